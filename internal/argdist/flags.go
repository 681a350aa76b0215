package argdist

import (
	"context"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
)

const usage = "argdist [-h] [-p PID] [-t TID] [-z STRING_SIZE] [-i INTERVAL] [-d DURATION] [-n COUNT] [-v] [-c] [-T TOP] [-H specifier] [-C specifier] [-I header] [--backend NAME]"

const description = `Trace a function and display a summary of its parameter values.

Probe specifier syntax:
        {p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
Where:
        p,r,t,u    -- probe at function entry, function exit, kernel
                      tracepoint, or USDT probe
                      in exit probes: can use $retval, $entry(param), $latency
        library    -- the library that contains the function
                      (leave empty for kernel functions)
        category   -- the category of the kernel tracepoint (e.g. net, sched)
        function   -- the function name to trace (or tracepoint name)
        signature  -- the function's parameters, as in the C header
                      (kernel functions: may be left out, BTF has them)
        type       -- the type of the expression to collect (supports multiple)
        expr       -- the expression to collect (supports multiple)
        filter     -- the filter that is applied to collected values
        label      -- the label for this probe in the resulting output
Expressions: parameters by name, args->FIELD (tracepoints), arg1.. (USDT),
$retval $latency $entry(param) $PID $TID $UID $GID $CPU $COMM, struct
members through pointers (p->a.b), casts, + - * / % << >> & | ^ ~ !,
comparisons, && ||, STRCMP("literal", string) or string == "literal".
The programs are compiled to BPF in process: no compiler, no kernel headers.`

const examples = `argdist -H 'p::__kmalloc(u64 size):u64:size'
        Print a histogram of allocation sizes passed to kmalloc

argdist -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'
        Print a frequency count of how many times process 1005 called malloc
        with an allocation size of 16 bytes

argdist -C 'r:c:gets():char*:(char*)$retval#snooped strings'
        Snoop on all strings returned by gets()

argdist -H 'r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte'
        Print a histogram of nanoseconds per byte from kmalloc allocations

argdist -p 1005 -C 'p:c:write(int fd):int:fd' -T 5
        Print frequency counts of how many times writes were issued to a
        particular file descriptor number, in process 1005, but only show
        the top 5 busiest fds

argdist -p 1005 -H 'r:c:read()'
        Print a histogram of results (sizes) returned by read() in process 1005

argdist -C 'r::__vfs_read():u32:$PID:$latency > 100000'
        Print frequency of reads by process where the latency was >0.1ms

argdist -H 'r::__vfs_read(void *file, void *buf, size_t count):size_t:$entry(count):$latency > 1000000'
        Print a histogram of read sizes that were longer than 1ms

argdist -H 'p:c:write(int fd, const void *buf, size_t count):size_t:count:fd==1'
        Print a histogram of buffer sizes passed to write() across all
        processes, where the file descriptor was 1 (STDOUT)

argdist -C 'p:c:fork()#fork calls'
        Count fork() calls in libc across all processes

argdist -H 't:block:block_rq_complete():u32:args->nr_sector'
        Print histogram of number of sectors in completing block I/O requests

argdist -C 't:irq:irq_handler_entry():int:args->irq'
        Aggregate interrupts by interrupt request (IRQ)

argdist -C 't:syscalls:sys_enter_openat():char*:args->filename:STRCMP("bash", $COMM)'
        Count the files bash opens

argdist -C 'u:pthread:pthread_start():u64:arg2' -p 1337
        Print frequency of function addresses used as a pthread start function,
        relying on the USDT pthread_start probe in process 1337

argdist -H 'p:c:sleep(u32 seconds):u32:seconds' -H 'p:c:nanosleep(struct timespec *req):long:req->tv_nsec'
        Print histograms of sleep() and nanosleep() parameter values

argdist -p 2780 -z 120 -C 'p:c:write(int fd, char* buf, size_t len):char*:buf:fd==1'
        Spy on writes to STDOUT performed by process 2780, up to a string size
        of 120 characters

argdist -C 'p::vfs_read(struct file *file):char*:file->f_path.dentry->d_name.name'
        Count reads by file name, with the struct layouts from kernel BTF`

// Config is what the flags ask for.
type Config struct {
	PID, TID   int
	StringSize int
	Interval   time.Duration
	Duration   time.Duration
	Count      int // number of outputs, 0: no limit
	Verbose    bool
	Cumulative bool
	Top        int
	Hist       []string
	Freq       []string
	Backend    string
}

// Main parses argdist's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("argdist", usage, description, examples)
	var (
		cfg      Config
		interval int
		duration int
		includes []string
	)
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "id of the process to trace (optional)")
	fs.IntVarP(&cfg.TID, "tid", "t", 0, "id of the thread to trace (optional)")
	fs.IntVarP(&cfg.StringSize, "string-size", "z", compiler.DefaultStringSize, "maximum string size to read from char* arguments")
	fs.IntVarP(&interval, "interval", "i", 1, "output interval, in seconds")
	fs.IntVarP(&duration, "duration", "d", 0, "total duration of trace, in seconds")
	fs.IntVarP(&cfg.Count, "number", "n", 0, "number of outputs")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "print the generated BPF program (readable assembly) before executing")
	fs.BoolVarP(&cfg.Cumulative, "cumulative", "c", false, "do not clear histograms and freq counts at each interval")
	fs.IntVarP(&cfg.Top, "top", "T", 0, "number of top results to show (not applicable to histograms)")
	fs.StringArrayVarP(&cfg.Hist, "histogram", "H", nil, "probe `specifier` to capture histogram of (see examples below)")
	fs.StringArrayVarP(&cfg.Freq, "count", "C", nil, "probe `specifier` to capture count of (see examples below)")
	fs.StringArrayVarP(&includes, "include", "I", nil, "`header` files: accepted for compatibility and ignored, types come from kernel BTF")
	fs.StringVar(&cfg.Backend, "backend", "", "hook kernel functions with `NAME`: fentry or kprobe (default: the best the kernel has)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q: probe specifiers go after -C or -H (see --help)", fs.Arg(0))
	}
	switch {
	case len(cfg.Hist)+len(cfg.Freq) == 0:
		return cli.Usagef("at least one specifier is required: -C SPEC or -H SPEC (see --help)")
	case interval <= 0:
		return cli.Usagef("-i %d: want a whole number of seconds > 0", interval)
	case duration < 0:
		return cli.Usagef("-d %d: want a whole number of seconds > 0", duration)
	case cfg.Count < 0:
		return cli.Usagef("-n %d: want a number > 0", cfg.Count)
	case cfg.Top < 0:
		return cli.Usagef("-T %d: want a number > 0", cfg.Top)
	case cfg.StringSize < 1 || cfg.StringSize > compiler.MaxStringSize:
		return cli.Usagef("-z %d: want a string size from 1 to %d", cfg.StringSize, compiler.MaxStringSize)
	case fs.Changed("tid") && cfg.TID <= 0:
		return cli.Usagef("-t %d: want a thread id > 0", cfg.TID)
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
	cfg.Interval = time.Duration(interval) * time.Second
	cfg.Duration = time.Duration(duration) * time.Second
	return Run(ctx, env, cfg)
}
