// Package cpudist is bcc's cpudist: histograms of the time threads spend on
// the CPU between a switch-in and the next switch-out, or off it (-O), for
// the whole system, per process (-P) or per thread (-L).
package cpudist

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	bpf "github.com/bpfscope/bpfscope/bpf/cpudist"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// Plan is the attach plan, best backend first: sched_switch as a BTF
// tracepoint, as a raw tracepoint, as a classic tracepoint, and bcc's kprobe
// on finish_task_switch.
var Plan = loader.Plan{Backends: []loader.Backend{
	{Name: "tp_btf", Needs: []loader.Feature{loader.TPBTF}, Spec: tpbtfWithout(bpf.TpbtfProgSchedSwitchDefault)},
	{Name: "raw_tp", Needs: []loader.Feature{loader.RawTP}, Spec: bpf.LoadRawtp},
	{Name: "tracepoint", Spec: bpf.LoadTracepoint},
	{Name: "kprobe", Needs: []loader.Feature{loader.Kprobes}, Spec: bpf.LoadKprobe},
}}

// Config is what the flags ask for.
type Config struct {
	OffCPU       bool
	Timestamp    bool
	Milliseconds bool
	PerProcess   bool
	PerThread    bool
	PID          int
	Idle         bool
	Extended     bool
	Cgroup       string
	Involuntary  bool
	JSON         bool
	Verbose      bool
	Backend      string
	Interval     time.Duration // 0: one report, at exit
	Count        int           // 0: until interrupted
}

// constants turns the config into the BPF side's const volatile values.
func (c *Config) constants() map[string]any {
	return map[string]any{
		"targ_offcpu":      c.OffCPU,
		"targ_ms":          c.Milliseconds,
		"targ_per_process": c.PerProcess,
		"targ_per_thread":  c.PerThread,
		"targ_idle":        c.Idle,
		"targ_involuntary": c.Involuntary,
		"targ_tgid":        uint32(c.PID),
		"filter_cg":        c.Cgroup != "",
	}
}

func (c *Config) sectioned() bool { return c.PerProcess || c.PerThread }

// defaultReport tells whether cfg counts what cpudist does without flags
// (system-wide, on-CPU, in usecs; the output options aside), for which the
// tp_btf object has a program with the tunables compiled in.
func (c *Config) defaultReport() bool {
	return !c.OffCPU && !c.Milliseconds && !c.PerProcess && !c.PerThread && c.PID == 0 &&
		!c.Idle && c.Cgroup == "" && !c.Involuntary && !schedExtLoaded()
}

// plan is Plan where the tp_btf object has, for the default report,
// sched_switch_default instead of sched_switch.
func (c *Config) plan() loader.Plan {
	p := loader.Plan{Backends: slices.Clone(Plan.Backends)}
	if c.defaultReport() {
		for i := range p.Backends {
			if p.Backends[i].Name == "tp_btf" {
				p.Backends[i].Spec = tpbtfWithout(bpf.TpbtfProgSchedSwitch)
			}
		}
	}
	return p
}

// tpbtfWithout returns the tp_btf object without program prog: it holds two
// programs on sched_switch, of which one is loaded.
func tpbtfWithout(prog string) func() (*ebpf.CollectionSpec, error) {
	return func() (*ebpf.CollectionSpec, error) {
		spec, err := bpf.LoadTpbtf()
		if err != nil {
			return nil, err
		}
		delete(spec.Programs, prog)
		return spec, nil
	}
}

// maxHists caps the histograms per interval with -P or -L; the map is
// preallocated: allocating under the run queue lock can deadlock older
// kernels.
const maxHists = 1 << 15

// layout returns the map sizes and the constants that depend on the
// machine: start holds a slot for every thread id pid_max allows (16 bytes
// each: 512 KiB for the default 32768, 64 MiB at the 4194304 limit, where
// bcc's hash of pid_max entries takes several times that) and one per CPU
// for the idle tasks, from idle_base on.
func (c *Config) layout() (sizes map[string]uint32, consts map[string]any, err error) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return nil, nil, fmt.Errorf("read pid_max: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || n == 0 || n > 1<<22 {
		return nil, nil, fmt.Errorf("pid_max %q: want a number in [1, 4194304]", strings.TrimSpace(string(b)))
	}
	pidMax := uint32(n)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, nil, fmt.Errorf("possible cpus: %w", err)
	}
	sizes = map[string]uint32{"start": pidMax + uint32(ncpu), "hists": 1}
	if c.sectioned() {
		sizes["hists"] = min(pidMax, maxHists)
	}
	consts = c.constants()
	consts["idle_base"] = pidMax
	consts["slices_unreliable"] = schedExtLoaded()
	return sizes, consts, nil
}

// schedExtLoaded tells whether a sched_ext scheduler runs: the tasks it
// schedules have no fair slice start, so spans are measured another way
// (see bpf/cpudist/cpudist.bpf.h).
func schedExtLoaded() bool {
	b, err := os.ReadFile("/sys/kernel/sched_ext/state")
	return err == nil && strings.TrimSpace(string(b)) != "disabled"
}

// Open loads and attaches cpudist's programs as cfg asks, cgroup filter
// included.
func Open(cfg Config) (*loader.Object, error) {
	sizes, consts, err := cfg.layout()
	if err != nil {
		return nil, err
	}
	obj, err := loader.Open(cfg.plan(), loader.Options{
		Backend:    cfg.Backend,
		Constants:  consts,
		MaxEntries: sizes,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Cgroup != "" {
		// Until this is set, the programs see no cgroup and count
		// nothing.
		if err := obj.SetCgroup("cgroup_map", cfg.Cgroup); err != nil {
			obj.Close()
			return nil, err
		}
	}
	return obj, nil
}

// Run loads, attaches and prints a report per interval until ctx is done or
// count reports were printed.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	obj, err := Open(cfg)
	if err != nil {
		return err
	}
	defer obj.Close()
	if cfg.Verbose {
		cli.ReportBackend(env.Stderr, obj, false)
	}

	r := newReporter(obj, cfg, env)
	banner := io.Writer(env.Stdout)
	if cfg.JSON {
		banner = env.Stderr
	}
	fmt.Fprintf(banner, "Tracing %s-CPU time... Hit Ctrl-C to end.\n", map[bool]string{false: "on", true: "off"}[cfg.OffCPU])

	var tick <-chan time.Time
	if cfg.Interval > 0 {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for n := 1; ; n++ {
		last := false
		select {
		case <-ctx.Done():
			last = true
		case <-tick:
		}
		if err := r.report(time.Now()); err != nil {
			return err
		}
		if last || (cfg.Count > 0 && n >= cfg.Count) {
			return nil
		}
	}
}
