package trace

import (
	"context"
	"os"
	"strconv"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
)

const usage = "trace [-h] [-b BUFFER_PAGES] [-p PID] [-L TID] [-v] [-Z STRING_SIZE] [-S] [-M MAX_EVENTS] [-t] [-u] [-T] [-C] [-n NAME] [-f MSG_FILTER] [-K] [-U] [-a] [--backend NAME] probe [probe ...]"

const description = `Attach to functions, tracepoints and USDT probes and print a trace message per hit.
Probes are compiled to BPF in process (no compiler, no kernel headers): types come from
kernel BTF, tracepoint formats and USDT notes. Events travel through the ring buffer
where the kernel has one, else the per-CPU perf buffer; lost events are reported.

Probe syntax:
  [{p,r}]:[library]:function[(signature)] [(predicate)] ["format string"[, arguments]]
  t:category:event [(predicate)] ["format string"[, arguments]]
  u:library:probe [(predicate)] ["format string"[, arguments]]
  "func" is p::func and "lib:func" is p:lib:func.
Names: parameters from the signature (else from BTF for kernel functions), arg1..arg6
by position, retval (r: probes), args->FIELD (tracepoints), arg1..argN (USDT),
$pid (thread id), $tgid, $uid, $gid, $cpu, $comm; STRCMP("literal", expr).
Formats: %d %i %u %x %X %o %c %s %p %K (kernel symbol) %U (user symbol), with h, hh, l,
ll, z and flags, width, precision.

Differences from bcc: -I (headers) is accepted and ignored (types come from BTF);
--uid, -c, -A, -B and -s are not supported; $task is not available.`

const examples = `trace do_sys_open
        Trace the open syscall and print a default trace message when entered
trace 'do_sys_open "%s", arg2'
        Trace the open syscall and print the filename being opened
trace 'do_sys_open "%s", arg2' -n main
        Trace the open syscall and only print event that process names containing "main"
trace 'do_sys_open "%s", arg2' -f config
        Trace the open syscall and print the filename being opened filtered by "config"
trace 'sys_read (arg3 > 20000) "read %d bytes", arg3'
        Trace the read syscall and print a message for reads >20000 bytes
trace 'r::do_sys_open "%llx", retval'
        Trace the return from the open syscall and print the return value
trace 'c:open (arg2 == 42) "%s %d", arg1, arg2'
        Trace the open() call from libc only if the flags (arg2) argument is 42
trace 'c:malloc "size = %d", arg1'
        Trace malloc calls and print the size being allocated
trace 'p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3'
        Trace the write() call from libc to monitor writes to STDOUT
trace 'r::__kmalloc (retval == 0) "kmalloc failed!"'
        Trace returns from __kmalloc which returned a null pointer
trace 'r:c:malloc (retval) "allocated = %x", retval'
        Trace returns from malloc and print non-NULL allocated buffers
trace 't:block:block_rq_complete "sectors=%d", args->nr_sector'
        Trace the block_rq_complete kernel tracepoint and print # of tx sectors
trace 't:syscalls:sys_enter_clone "hello, world"' 't:sched:sched_process_fork "child %d", args->child_pid'
        Hello world on every clone, and the pid of each forked child
trace 'u:pthread:pthread_create (arg4 != 0)'
        Trace the USDT probe pthread_create when its 4th argument is non-zero
trace 'u:/usr/bin/node:http__server__request "%s %s", arg5, arg6'
        Print the method and path of each HTTP request node serves (bcc's nodejs_http_server)
trace 'p::SyS_nanosleep(struct timespec *ts) "sleep for %lld ns", ts->tv_nsec'
        Trace the nanosleep syscall and print the sleep duration in ns
trace -M 10 -t -C 't:sched:sched_switch "%s -> %s", args->prev_comm, args->next_comm'
        Print the first 10 context switches with a timestamp and the CPU
trace -U -a 'c:malloc (arg1 > 1048576) "big malloc %d", arg1'
        Print the user stack, with addresses, of each malloc of more than 1 MiB`

// Config is what the flags ask for.
type Config struct {
	PID, TID      int
	Verbose       bool
	StringSize    int
	IncludeSelf   bool
	MaxEvents     int
	Timestamp     bool // -t: seconds since the start
	UnixTimestamp bool // -u: with -t, seconds since the epoch
	Time          bool // -T: wall clock
	CPU           bool
	Name          string
	MsgFilter     string
	KernelStack   bool
	UserStack     bool
	Address       bool
	BufferPages   int
	Backend       string
	PerfBuffer    bool
	Probes        []string
}

// DefaultBufferPages is bcc trace's default -b.
const DefaultBufferPages = 64

// Main parses trace's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("trace", usage, description, examples)
	var (
		cfg      Config
		includes []string
	)
	fs.IntVarP(&cfg.BufferPages, "buffer-pages", "b", 0, "number of pages per CPU for the event buffer (default: 64 for the perf buffer; a 4 MiB ring buffer)")
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "id of the process to trace (optional)")
	fs.IntVarP(&cfg.TID, "tid", "L", 0, "id of the thread to trace (optional)")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "print the generated BPF programs (readable assembly) and the backend")
	fs.IntVarP(&cfg.StringSize, "string-size", "Z", compiler.DefaultStringSize, "maximum size to read from strings")
	fs.BoolVarP(&cfg.IncludeSelf, "include-self", "S", false, "do not filter trace's own pid from the trace")
	fs.IntVarP(&cfg.MaxEvents, "max-events", "M", 0, "number of events to print before quitting")
	fs.BoolVarP(&cfg.Timestamp, "timestamp", "t", false, "print timestamp column (offset from trace start)")
	fs.BoolVarP(&cfg.UnixTimestamp, "unix-timestamp", "u", false, "print UNIX timestamp instead of offset from trace start, requires -t")
	fs.BoolVarP(&cfg.Time, "time", "T", false, "print time column")
	fs.BoolVarP(&cfg.CPU, "print_cpu", "C", false, "print CPU id")
	fs.StringVarP(&cfg.Name, "name", "n", "", "only print process names containing this name")
	fs.StringVarP(&cfg.MsgFilter, "msg-filter", "f", "", "only print the msg of event containing this string")
	fs.BoolVarP(&cfg.KernelStack, "kernel-stack", "K", false, "output kernel stack trace")
	fs.BoolVarP(&cfg.UserStack, "user-stack", "U", false, "output user stack trace")
	fs.BoolVarP(&cfg.Address, "address", "a", false, "print virtual address in stacks")
	fs.StringArrayVarP(&includes, "include", "I", nil, "`header` files: accepted for compatibility and ignored, types come from kernel BTF")
	fs.StringVar(&cfg.Backend, "backend", "", "hook kernel functions with `NAME`: fentry or kprobe (default: the best the kernel has)")
	fs.BoolVar(&cfg.PerfBuffer, "perf-buffer", false, "use the per-CPU perf buffer even where the kernel has a ring buffer")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	cfg.Probes = fs.Args()
	switch {
	case len(cfg.Probes) == 0:
		return cli.Usagef("at least one probe is required, e.g. trace 'c:malloc \"size = %%d\", arg1' (see --help)")
	case fs.Changed("pid") && fs.Changed("tid"):
		return cli.Usagef("only one of -p and -L may be specified")
	case fs.Changed("buffer-pages") && (cfg.BufferPages <= 0 || cfg.BufferPages&(cfg.BufferPages-1) != 0):
		return cli.Usagef("-b %d: want a power of two number of pages, e.g. 64", cfg.BufferPages)
	case cfg.MaxEvents < 0:
		return cli.Usagef("-M %d: want a number of events > 0", cfg.MaxEvents)
	case cfg.StringSize < 1 || cfg.StringSize > compiler.MaxStringSize:
		return cli.Usagef("-Z %d: want a string size from 1 to %d", cfg.StringSize, compiler.MaxStringSize)
	case cfg.UnixTimestamp && !cfg.Timestamp:
		return cli.Usagef("-u prints UNIX timestamps in the -t column: add -t")
	case fs.Changed("tid") && cfg.TID <= 0:
		return cli.Usagef("-L %d: want a thread id > 0", cfg.TID)
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return err
		}
	}
	if fs.Changed("tid") {
		if _, err := os.Stat("/proc/" + strconv.Itoa(cfg.TID)); err != nil {
			return cli.Usagef("-L %d: no such thread", cfg.TID)
		}
	}
	switch cfg.Backend {
	case "", string(compiler.Fentry), string(compiler.Kprobe):
	default:
		return cli.Usagef("--backend %q: choose fentry or kprobe", cfg.Backend)
	}
	return Run(ctx, env, cfg)
}
