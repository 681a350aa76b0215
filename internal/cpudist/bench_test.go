package cpudist

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	bpf "github.com/bpfscope/bpfscope/bpf/cpudist"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// BenchmarkSwitchCost measures the cost of a context switch on a
// switch-heavy workload: two processes pinned to one CPU pass a byte back
// and forth through pipes, so that every hand-over is a switch. It compares,
// in the same run, nothing attached to sched_switch, an empty tp_btf program
// on it, and cpudist (tp_btf, on-CPU, system-wide, as loaded by the tool):
// b.N round trips per setup, in switchTurns short chunks, the setups taking
// turns (A B C, B C A, C A B, ...) with their programs loaded once and only
// attached for their turn. The figure per chunk is the CPU time of both
// processes over their context switches, so that other tasks on the CPU
// count for little; what a program adds is the median over the turns of
// its chunk's figure minus the bare chunk's of the same turn. It reports ns
// per switch for each setup, what the programs add, the ratio of cpudist's
// added cost to the empty program's (the target is at most 1.2) and a 95%
// interval of that ratio (resampling the turns), which tells a steady run
// from a noisy one. The load average is logged at both ends: measure on a
// quiet machine.
func BenchmarkSwitchCost(b *testing.B) {
	kerneltest.Need(b, loader.TPBTF)
	pp := startPingPong(b, runtime.NumCPU()-1)
	empty := loadProgram(b, bpf.LoadEmpty, nil, "sched_switch_empty")
	cpudist := loadCpudist(b)
	progs := []*ebpf.Program{nil, empty, cpudist}

	logLoad(b, "before")
	chunk := max(b.N/switchTurns, 100)
	perSwitch := make([][]float64, len(progs))
	b.ResetTimer()
	for turn := range switchTurns {
		for k := range progs {
			i := (turn + k) % len(progs)
			var l link.Link
			if progs[i] != nil {
				b.StopTimer()
				var err error
				if l, err = link.AttachTracing(link.TracingOptions{Program: progs[i]}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			// Attaching and detaching patch the kernel's text (the
			// tracepoint's static key): the switches right after pay
			// for it. Let them pass.
			pp.perSwitch(b, switchWarmUp)
			perSwitch[i] = append(perSwitch[i], pp.perSwitch(b, chunk))
			if l != nil {
				l.Close()
			}
		}
	}
	b.StopTimer()
	logLoad(b, "after")
	added := make([][]float64, len(progs))
	for i := range progs {
		added[i] = make([]float64, switchTurns)
		for t := range added[i] {
			added[i][t] = perSwitch[i][t] - perSwitch[0][t]
		}
	}
	addedEmpty, addedCpudist := median(added[1]), median(added[2])
	b.ReportMetric(median(perSwitch[0]), "ns/switch-none")
	b.ReportMetric(median(perSwitch[1]), "ns/switch-empty")
	b.ReportMetric(median(perSwitch[2]), "ns/switch-cpudist")
	b.ReportMetric(addedEmpty, "ns/switch-added-empty")
	b.ReportMetric(addedCpudist, "ns/switch-added-cpudist")
	if addedEmpty > 0 {
		b.ReportMetric(addedCpudist/addedEmpty, "added-ratio")
		lo, hi := ratioInterval(added[2], added[1])
		b.ReportMetric(lo, "added-ratio-lo")
		b.ReportMetric(hi, "added-ratio-hi")
	}
}

// switchTurns is how many turns BenchmarkSwitchCost takes: many short ones,
// so that most chunks see no other task on the CPU and the medians leave
// out those that do. switchWarmUp is how many round trips, not measured,
// come before each chunk.
const (
	switchTurns  = 600
	switchWarmUp = 200
)

// ratioInterval returns a 95% interval of median(num)/median(den), num and
// den paired by turn, from 2000 resamplings of the turns (a fixed seed: the
// same data gives the same interval).
func ratioInterval(num, den []float64) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := len(num)
	a, d := make([]float64, n), make([]float64, n)
	ratios := make([]float64, 0, 2000)
	for range 2000 {
		for k := range n {
			t := rng.IntN(n)
			a[k], d[k] = num[t], den[t]
		}
		if md := median(d); md > 0 {
			ratios = append(ratios, median(a)/md)
		}
	}
	if len(ratios) == 0 {
		return 0, 0
	}
	slices.Sort(ratios)
	return ratios[len(ratios)*25/1000], ratios[len(ratios)*975/1000]
}

// logLoad logs the load average, for the reader to tell a quiet run.
func logLoad(b *testing.B, when string) {
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average %s: %s", when, strings.Join(strings.Fields(string(l))[:3], " "))
	}
}

// loadCpudist loads cpudist's tp_btf program as the tool does for the
// default system-wide on-CPU histogram (the object and program of its
// plan), unattached.
func loadCpudist(b *testing.B) *ebpf.Program {
	b.Helper()
	cfg := Config{}
	sizes, consts, err := cfg.layout()
	if err != nil {
		b.Fatal(err)
	}
	spec := cfg.plan().Backends[0].Spec
	probe, err := spec()
	if err != nil {
		b.Fatal(err)
	}
	if len(probe.Programs) != 1 {
		b.Fatalf("tp_btf object with %d programs, want 1", len(probe.Programs))
	}
	var name string
	for name = range probe.Programs {
	}
	b.Logf("cpudist program: %s", name)
	return loadProgram(b, spec, func(spec *ebpf.CollectionSpec) error {
		for name, v := range consts {
			if err := spec.Variables[name].Set(v); err != nil {
				return fmt.Errorf("set %s: %w", name, err)
			}
		}
		for name, n := range sizes {
			spec.Maps[name].MaxEntries = n
		}
		return nil
	}, name)
}

// BenchmarkProgramRuntime measures the run time of cpudist's program and
// of the empty one on the same switch-heavy workload with the kernel's BPF
// statistics (BPF_ENABLE_STATS, on only while it runs): ns per run as the
// kernel times it around the program, so the hook's own cost (what
// BenchmarkSwitchCost's empty program adds) is left out and what remains is
// cpudist's work per switch, robust to other load. The statistics add the
// same fixed cost to both figures.
func BenchmarkProgramRuntime(b *testing.B) {
	kerneltest.Need(b, loader.TPBTF)
	pp := startPingPong(b, runtime.NumCPU()-1)
	empty := loadProgram(b, bpf.LoadEmpty, nil, "sched_switch_empty")
	cpudist := loadCpudist(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF statistics: %v", err)
	}
	defer stats.Close()

	const turns = 20
	chunk := max(b.N/turns, 100)
	progs := []*ebpf.Program{empty, cpudist}
	b.ResetTimer()
	for turn := range turns {
		for k := range progs {
			p := progs[(turn+k)%len(progs)]
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				b.Fatal(err)
			}
			pp.perSwitch(b, chunk)
			l.Close()
		}
	}
	b.StopTimer()
	perRun := func(p *ebpf.Program) float64 {
		st, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if st.RunCount == 0 {
			b.Fatal("the program never ran")
		}
		return float64(st.Runtime.Nanoseconds()) / float64(st.RunCount)
	}
	e, c := perRun(empty), perRun(cpudist)
	b.ReportMetric(e, "ns/run-empty")
	b.ReportMetric(c, "ns/run-cpudist")
	b.ReportMetric(c-e, "ns/run-cpudist-work")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadProgram loads the object spec returns, edited by edit, and returns its
// program name, unattached; it is closed at the end of the benchmark.
func loadProgram(b *testing.B, spec func() (*ebpf.CollectionSpec, error), edit func(*ebpf.CollectionSpec) error, name string) *ebpf.Program {
	b.Helper()
	s, err := spec()
	if err != nil {
		b.Fatal(err)
	}
	if edit != nil {
		if err := edit(s); err != nil {
			b.Fatal(err)
		}
	}
	coll, err := ebpf.NewCollection(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(coll.Close)
	p := coll.Programs[name]
	if p == nil {
		b.Fatalf("no program %s", name)
	}
	return p
}

// pingPong drives the pingpong helper processes (main_test.go).
type pingPong struct {
	stdin io.Writer
	out   *bufio.Reader
	pids  []int
}

func startPingPong(b *testing.B, cpu int) *pingPong {
	b.Helper()
	var there, back [2]int
	if err := unix.Pipe2(there[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	if err := unix.Pipe2(back[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	files := func(r, w int) []*os.File {
		return []*os.File{os.NewFile(uintptr(r), "r"), os.NewFile(uintptr(w), "w")}
	}
	echoFiles, driveFiles := files(there[0], back[1]), files(back[0], there[1])
	start := func(role string, extra []*os.File) *exec.Cmd {
		cmd := kerneltest.Command("pingpong", role, strconv.Itoa(cpu))
		cmd.Env = append(cmd.Env, workerEnv...)
		cmd.ExtraFiles = extra
		cmd.Stderr = os.Stderr
		return cmd
	}
	echo := start("echo", echoFiles)
	drive := start("drive", driveFiles)
	stdin, err := drive.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := drive.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []*exec.Cmd{echo, drive} {
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			c.Process.Kill()
			c.Wait()
		})
	}
	for _, f := range append(echoFiles, driveFiles...) {
		f.Close()
	}
	pp := &pingPong{stdin: stdin, out: bufio.NewReader(stdout), pids: []int{echo.Process.Pid, drive.Process.Pid}}
	if l, err := pp.out.ReadString('\n'); err != nil || l != "ready\n" {
		b.Fatalf("pingpong driver said %q, %v", l, err)
	}
	return pp
}

// perSwitch makes n round trips and returns the CPU time per context
// switch: the CPU time of both processes (all their threads, from
// schedstat) over their context switches (from status). CPU time, not
// elapsed time, so that other tasks sharing the CPU do not count.
func (pp *pingPong) perSwitch(b *testing.B, n int) float64 {
	b.Helper()
	cpu0, sw0 := pp.usage(b)
	fmt.Fprintf(pp.stdin, "%d\n", n)
	if l, err := pp.out.ReadString('\n'); err != nil || len(strings.Fields(l)) != 2 {
		b.Fatalf("pingpong driver said %q, %v", l, err)
	}
	cpu1, sw1 := pp.usage(b)
	if sw1 == sw0 {
		b.Fatalf("no context switches in %d round trips", n)
	}
	return float64(cpu1-cpu0) / float64(sw1-sw0)
}

// usage sums the CPU time and context switches of the pingpong processes'
// threads.
func (pp *pingPong) usage(b *testing.B) (cpu, switches uint64) {
	b.Helper()
	for _, pid := range pp.pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, task := range tasks {
			dir := fmt.Sprintf("/proc/%d/task/%s/", pid, task.Name())
			if st, err := os.ReadFile(dir + "schedstat"); err == nil {
				n, _ := strconv.ParseUint(strings.Fields(string(st))[0], 10, 64)
				cpu += n
			}
			status, err := os.ReadFile(dir + "status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(status), "\n") {
				k, v, _ := strings.Cut(l, ":")
				if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
					n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
					switches += n
				}
			}
		}
	}
	return cpu, switches
}
