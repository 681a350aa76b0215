package funccount

import (
	"context"
	"runtime"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
)

const usage = "funccount [-h] [-p PID] [-i INTERVAL] [-d DURATION] [-T] [-r] [-D] [-c CPU] [-v] [--attach-mode MODE] pattern"

const description = `Count functions, tracepoints, and USDT probes

Patterns ('*' wildcards, or regular expressions with -r):
        func, p::func      kernel functions
        lib:func           functions of a library or executable ("c" is libc,
        p:lib:func         a path, a program in PATH)
        t:cat:event        kernel tracepoints
        u:lib:probe        USDT probes of a library or executable
The counting program is generated in process: no compiler, no kernel headers.
One program counts every match, attached with kprobe_multi or uprobe_multi
links where the kernel has them.`

const examples = `    ./funccount 'vfs_*'             # count kernel fns starting with "vfs"
    ./funccount -r '^vfs.*'         # same as above, using regular expressions
    ./funccount -Ti 5 'vfs_*'       # output every 5 seconds, with timestamps
    ./funccount -d 10 'vfs_*'       # trace for 10 seconds only
    ./funccount -p 185 'vfs_*'      # count vfs calls for PID 181 only
    ./funccount t:sched:sched_fork  # count calls to the sched_fork tracepoint
    ./funccount -p 185 u:node:gc*   # count all GC USDT probes in node, PID 185
    ./funccount c:malloc            # count all malloc() calls in libc
    ./funccount go:os.*             # count all "os.*" calls in libgo
    ./funccount -p 185 go:os.*      # count all "os.*" calls in libgo, PID 185
    ./funccount ./test:read*        # count "read*" calls in the ./test binary
    ./funccount -c 1 'vfs_*'        # count vfs calls on CPU 1 only`

// Config is what the flags ask for.
type Config struct {
	Pattern   string
	PID       int
	Interval  time.Duration // 0: one report at the end
	Duration  time.Duration // 0: until Ctrl-C
	Timestamp bool
	Regexp    bool
	Verbose   bool
	CPU       int
	OneCPU    bool
	Mode      compiler.AttachMode
}

// Main parses funccount's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("funccount", usage, description, examples)
	var (
		cfg                Config
		interval, duration int
		debug              bool
		mode               string
	)
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this PID only")
	fs.IntVarP(&interval, "interval", "i", 0, "summary interval, seconds")
	fs.IntVarP(&duration, "duration", "d", 0, "total duration of trace, seconds")
	fs.BoolVarP(&cfg.Timestamp, "timestamp", "T", false, "include timestamp on output")
	fs.BoolVarP(&cfg.Regexp, "regexp", "r", false, "use regular expressions. Default is \"*\" wildcards only.")
	fs.BoolVarP(&debug, "debug", "D", false, "print BPF program before starting (for debugging purposes): same as -v")
	fs.IntVarP(&cfg.CPU, "cpu", "c", 0, "trace this CPU only")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "print the generated BPF program (readable assembly) and the attach mode")
	fs.StringVar(&mode, "attach-mode", "", "attach with `MODE`: multi (kprobe_multi/uprobe_multi links), cookies (a link per target), programs (a program per target); default: the best the kernel has")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		return cli.Usagef("a pattern is required, e.g. funccount 'vfs_*' (see --help)")
	case fs.NArg() > 1:
		return cli.Usagef("unexpected argument %q: one pattern only", fs.Arg(1))
	case interval < 0 || fs.Changed("interval") && interval == 0:
		return cli.Usagef("-i %d: want a whole number of seconds > 0", interval)
	case duration < 0 || fs.Changed("duration") && duration == 0:
		return cli.Usagef("-d %d: want a whole number of seconds > 0", duration)
	case fs.Changed("cpu") && (cfg.CPU < 0 || cfg.CPU >= runtime.NumCPU()):
		return cli.Usagef("-c %d: want a CPU from 0 to %d", cfg.CPU, runtime.NumCPU()-1)
	}
	if fs.Changed("pid") {
		if cfg.PID <= 0 {
			return cli.Usagef("-p %d: want a process id > 0", cfg.PID)
		}
		if err := cli.CheckPID(cfg.PID); err != nil {
			return err
		}
	}
	switch m := compiler.AttachMode(mode); m {
	case "", compiler.AttachMulti, compiler.AttachCookies, compiler.AttachPrograms:
		cfg.Mode = m
	default:
		return cli.Usagef("--attach-mode %q: choose multi, cookies or programs", mode)
	}
	cfg.Pattern = fs.Arg(0)
	cfg.OneCPU = fs.Changed("cpu")
	cfg.Verbose = cfg.Verbose || debug
	cfg.Interval = time.Duration(interval) * time.Second
	cfg.Duration = time.Duration(duration) * time.Second
	return Run(ctx, env, cfg)
}
