package cpudist

import (
	"context"
	"slices"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

const (
	usage = "cpudist [-h] [-O] [-T] [-m] [-P | -L] [-p PID] [-I] [-e] [-c CGROUP_PATH] [--involuntary] [--json] [-v] [--backend NAME] [interval] [count]"

	description = `Summarize on- and off-CPU time per task as a histogram.

On-CPU time runs from a thread's switch-in to its switch-out, off-CPU time (-O)
from its switch-out to its next switch-in. The idle tasks (pid 0) are left out
unless -I.`

	examples = `    cpudist              # summarize on-CPU time as a histogram
    cpudist -O           # summarize off-CPU time as a histogram
    cpudist 1 10         # print 1 second summaries, 10 times
    cpudist -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist -P           # show each PID separately
    cpudist -p 185       # trace PID 185 only
    cpudist -I           # include CPU idle time
    cpudist -e           # show extension summary (average/total/count)
    cpudist -c /sys/fs/cgroup/unified/system.slice  # only tasks in this cgroup v2
    cpudist --json 1     # one JSON object per second
    cpudist -v --backend tracepoint  # force a backend and say so`

	positional = `  interval            output interval, in seconds
  count               number of outputs`
)

// Main parses cpudist's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	cfg, err := parseFlags(env)
	if err != nil {
		return err
	}
	return Run(ctx, env, cfg)
}

func parseFlags(env cli.Env) (Config, error) {
	fs := cli.NewFlagSet("cpudist", usage, description, examples)
	fs.Positional = positional
	var (
		cfg      Config
		backends = strings.Join(Plan.Names(), ", ")
	)
	fs.BoolVarP(&cfg.OffCPU, "offcpu", "O", false, "measure off-CPU time")
	fs.BoolVarP(&cfg.Timestamp, "timestamp", "T", false, "include timestamp on output")
	fs.BoolVarP(&cfg.Milliseconds, "milliseconds", "m", false, "millisecond histogram")
	fs.BoolVarP(&cfg.PerProcess, "pids", "P", false, "print a histogram per process ID")
	fs.BoolVarP(&cfg.PerThread, "tids", "L", false, "print a histogram per thread ID")
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this `PID` only")
	fs.BoolVarP(&cfg.Idle, "include-idle", "I", false, "include CPU idle time")
	fs.BoolVarP(&cfg.Extended, "extension", "e", false, "show extension summary (average/total/count)")
	fs.StringVarP(&cfg.Cgroup, "cgroup", "c", "", "trace tasks in the cgroup v2 directory `CGROUP_PATH` only")
	fs.BoolVar(&cfg.Involuntary, "involuntary", false, "on-CPU: count only spans ended while the task was still runnable (preempted), as libbpf-tools")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per interval")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "say which backend is used and why others were passed over")
	fs.StringVar(&cfg.Backend, "backend", "", "force backend `NAME`: "+backends+" (default: the best the kernel has)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Interval, cfg.Count, err = cli.IntervalCount(fs.Args(), 0); err != nil {
		return cfg, err
	}
	if cfg.PerProcess && cfg.PerThread {
		return cfg, cli.Usagef("-P and -L exclude each other: pick histograms per process (-P) or per thread (-L)")
	}
	if cfg.Involuntary && cfg.OffCPU {
		return cfg, cli.Usagef("--involuntary applies to on-CPU time only: drop it or -O")
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return cfg, err
		}
	}
	if fs.Changed("cgroup") {
		if err := cli.CheckCgroup(cfg.Cgroup); err != nil {
			return cfg, err
		}
	}
	if fs.Changed("backend") && !slices.Contains(Plan.Names(), cfg.Backend) {
		return cfg, cli.Usagef("--backend %q: choose one of %s", cfg.Backend, backends)
	}
	return cfg, nil
}
