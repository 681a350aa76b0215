package funclatency

import (
	"context"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
)

const usage = "funclatency [-h] [-p PID] [-i INTERVAL] [-d DURATION] [-T] [-u] [-m] [-F] [-r] [-l LEVEL] [-v] [--backend NAME] pattern"

const description = `Time functions and print latency as a histogram

The return probes are compiled to BPF in process: no compiler, no kernel
headers. Without -l, a call that starts while another timed call is in
progress on the same thread replaces its entry time: only innermost calls
are timed. -l LEVEL times the outermost LEVEL levels of nested or recursive
calls.`

const positional = `  pattern               search expression for functions: FUNC or p::FUNC (kernel),
                        LIB:FUNC or p:LIB:FUNC (LIB: a library such as "c", or a path),
                        with '*' wildcards, or a regular expression with -r`

const examples = `./funclatency do_sys_open       # time the do_sys_open() kernel function
./funclatency c:read            # time the read() C library function
./funclatency -u vfs_read       # time vfs_read(), in microseconds
./funclatency -m do_nanosleep   # time do_nanosleep(), in milliseconds
./funclatency -i 2 -d 10 c:open # output every 2 seconds, for duration 10s
./funclatency -mTi 5 vfs_read   # output every 5 seconds, with timestamps
./funclatency -p 181 vfs_read   # time process 181 only
./funclatency 'vfs_fstat*'      # time both vfs_fstat() and vfs_fstatat()
./funclatency 'c:*printf'       # time the *printf family of functions
./funclatency -F 'vfs_r*'       # show one histogram per matched function
./funclatency -l 3 'c:fib'      # time the outermost 3 levels of recursive fib()`

// Config is what the flags ask for.
type Config struct {
	PID       int
	Interval  time.Duration // 0: report at Ctrl-C only
	Duration  time.Duration // 0: until Ctrl-C
	Timestamp bool
	Unit      string // "nsecs", "usecs" or "msecs"
	PerFunc   bool
	Regexp    bool
	Level     int // 0: time innermost calls
	Verbose   bool
	Backend   string
	Pattern   string
}

// Main parses funclatency's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("funclatency", usage, description, examples)
	fs.Positional = positional
	var (
		cfg                Config
		interval, duration int
		micro, milli       bool
	)
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this PID only")
	fs.IntVarP(&interval, "interval", "i", 0, "summary interval, in seconds")
	fs.IntVarP(&duration, "duration", "d", 0, "total duration of trace, in seconds")
	fs.BoolVarP(&cfg.Timestamp, "timestamp", "T", false, "include timestamp on output")
	fs.BoolVarP(&micro, "microseconds", "u", false, "microsecond histogram")
	fs.BoolVarP(&milli, "milliseconds", "m", false, "millisecond histogram")
	fs.BoolVarP(&cfg.PerFunc, "function", "F", false, "show a separate histogram per function")
	fs.BoolVarP(&cfg.Regexp, "regexp", "r", false, `use regular expressions. Default is "*" wildcards only.`)
	fs.IntVarP(&cfg.Level, "level", "l", 0, "set the level of nested or recursive functions")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "print the BPF program (readable assembly)")
	fs.StringVar(&cfg.Backend, "backend", "", "hook kernel functions with `NAME`: fentry or kprobe (default: the best the kernel has)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return cli.Usagef("a pattern is required: FUNC, LIB:FUNC or a wildcard pattern (see --help)")
	case fs.NArg() > 1:
		return cli.Usagef("unexpected argument %q: one pattern only (see --help)", fs.Arg(1))
	case fs.Changed("interval") && interval <= 0:
		return cli.Usagef("-i %d: want a whole number of seconds > 0", interval)
	case fs.Changed("duration") && duration <= 0:
		return cli.Usagef("-d %d: want a whole number of seconds > 0", duration)
	case fs.Changed("level") && (cfg.Level < 1 || cfg.Level > compiler.MaxNesting):
		return cli.Usagef("-l %d: want a level from 1 to %d", cfg.Level, compiler.MaxNesting)
	case micro && milli:
		return cli.Usagef("-u and -m: choose one unit")
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return err
		}
	}
	switch cfg.Backend {
	case "", string(compiler.Fentry), string(compiler.Kprobe):
	default:
		return cli.Usagef("--backend %q: choose fentry or kprobe", cfg.Backend)
	}
	cfg.Pattern = fs.Arg(0)
	cfg.Unit = "nsecs"
	switch {
	case milli:
		cfg.Unit = "msecs"
	case micro:
		cfg.Unit = "usecs"
	}
	// bcc: -d without -i reports once, at the end.
	if duration > 0 && interval == 0 {
		interval = duration
	}
	cfg.Interval = time.Duration(interval) * time.Second
	cfg.Duration = time.Duration(duration) * time.Second
	return Run(ctx, env, cfg)
}
