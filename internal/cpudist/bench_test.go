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
// on it, and cpudist (tp_btf, on-CPU, system-wide, as loaded by the tool).
//
// What a program adds per switch is a few percent of the switch, and three
// things move the figure by more than that; the design takes each out:
//   - Attaching or detaching patches the kernel's text (the tracepoint's
//     static key) and leaves RCU callbacks behind: for a few milliseconds
//     after, every switch costs up to 200 ns more, attached or not. Each
//     chunk is measured after switchSettle round trips (4 ms here).
//   - A setup measured right after a given other one inherits that one's
//     aftermath: the setups run in a new random order every turn.
//   - Each loaded program lands its JIT image and per-CPU data somewhere
//     else, which moves its cost by up to 60 ns either way on the
//     development machine, lastingly (two halves of a run agree): two
//     loads of the empty program differed by 120 ns. Each program is loaded
//     switchCopies times, interleaved, and its cost is the mean over its
//     copies.
//
// The figure per chunk is the CPU time of both processes over their context
// switches, so that other tasks on the CPU count for little; what a copy
// adds is the median over the turns of its chunk's figure minus the bare
// chunk's of the same turn. It reports ns per switch for each setup, what
// the programs add, the ratio of cpudist's added cost to the empty
// program's (the target is at most 1.2), a 95% interval of that ratio
// (resampling the copies and the turns), and the spread of the copies. The
// load average is logged at both ends: measure on a quiet machine. b.N is
// the number of turns (each: every setup once, in a new random order): run
// it with -benchtime 200x.
func BenchmarkSwitchCost(b *testing.B) {
	kerneltest.Need(b, loader.TPBTF)
	pp := startPingPong(b, runtime.NumCPU()-1)
	// Setup 0 is the bare hook; copies of the two programs alternate in
	// load order.
	setups := []*ebpf.Program{nil}
	for range switchCopies {
		setups = append(setups, loadProgram(b, bpf.LoadEmpty, nil, bpf.EmptyProgSchedSwitchEmpty), loadCpudist(b))
	}
	b.Logf("cpudist program: %v", setups[2])
	copiesOf := func(prog int) []int { // prog 0: empty, 1: cpudist
		var idx []int
		for i := 1 + prog; i < len(setups); i += 2 {
			idx = append(idx, i)
		}
		return idx
	}

	logLoad(b, "before")
	perSwitch := make([][]float64, len(setups)) // [setup][turn]
	rng := rand.New(rand.NewPCG(7, 8))
	b.ResetTimer()
	for range b.N {
		for _, i := range rng.Perm(len(setups)) {
			var l link.Link
			if setups[i] != nil {
				b.StopTimer()
				var err error
				if l, err = link.AttachTracing(link.TracingOptions{Program: setups[i]}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			pp.perSwitch(b, switchSettle)
			perSwitch[i] = append(perSwitch[i], pp.perSwitch(b, switchChunk))
			if l != nil {
				l.Close()
			}
		}
	}
	b.StopTimer()
	logLoad(b, "after")

	added := make([][]float64, len(setups)) // [setup][turn], less the bare hook
	for i := range setups {
		added[i] = make([]float64, b.N)
		for t := range added[i] {
			added[i][t] = perSwitch[i][t] - perSwitch[0][t]
		}
	}
	turns := make([]int, b.N)
	for t := range turns {
		turns[t] = t
	}
	empty, cpudist := copiesOf(0), copiesOf(1)
	addedEmpty := meanOfMedians(added, empty, turns)
	addedCpudist := meanOfMedians(added, cpudist, turns)
	perSwitchOf := func(idx []int) float64 { // mean over the copies of their median
		var v []float64
		for _, i := range idx {
			v = append(v, median(perSwitch[i]))
		}
		return mean(v)
	}
	b.ReportMetric(median(perSwitch[0]), "ns/switch-none")
	b.ReportMetric(perSwitchOf(empty), "ns/switch-empty")
	b.ReportMetric(perSwitchOf(cpudist), "ns/switch-cpudist")
	b.ReportMetric(addedEmpty, "ns/switch-added-empty")
	b.ReportMetric(addedCpudist, "ns/switch-added-cpudist")
	b.ReportMetric(addedCpudist-addedEmpty, "ns/switch-cpudist-over-empty")
	if addedEmpty > 0 {
		b.ReportMetric(addedCpudist/addedEmpty, "added-ratio")
		lo, hi := ratioInterval(added, cpudist, empty, rng)
		b.ReportMetric(lo, "added-ratio-lo")
		b.ReportMetric(hi, "added-ratio-hi")
	}
	if b.N < 20 {
		return // the framework's first run, or too few turns to tell the copies apart
	}
	for _, c := range []struct {
		name string
		idx  []int
	}{{"empty", empty}, {"cpudist", cpudist}} {
		var v []string
		for _, i := range c.idx {
			v = append(v, fmt.Sprintf("%.0f", median(added[i])))
		}
		b.Logf("ns added per switch by each copy of %s: %s", c.name, strings.Join(v, " "))
	}
}

// switchChunk is the round trips measured per setup and turn: short chunks,
// so that most see no other task on the CPU and the medians leave out those
// that do. switchSettle is how many round trips, not measured, come before
// each chunk (4 ms here, where a round trip takes 2.6 us; the aftermath of
// an attach or detach lasts 2-5 ms). switchCopies is how many times each
// program is loaded.
const (
	switchChunk  = 1000
	switchSettle = 1500
	switchCopies = 16
)

// meanOfMedians returns the mean over the setups idx of the median of
// added[setup] over the turns.
func meanOfMedians(added [][]float64, idx, turns []int) float64 {
	v := make([]float64, 0, len(idx))
	for _, i := range idx {
		s := make([]float64, len(turns))
		for k, t := range turns {
			s[k] = added[i][t]
		}
		v = append(v, median(s))
	}
	return mean(v)
}

// ratioInterval returns a 95% interval of the ratio of num's added cost to
// den's (each the mean over its copies of their medians over the turns),
// from 1000 resamplings of the copies of each and of the turns, which all
// copies share: the interval covers both the noise of the turns and the
// spread of where the copies landed.
func ratioInterval(added [][]float64, num, den []int, rng *rand.Rand) (lo, hi float64) {
	n := len(added[0])
	turns := make([]int, n)
	pick := func(idx []int) []int {
		out := make([]int, len(idx))
		for k := range out {
			out[k] = idx[rng.IntN(len(idx))]
		}
		return out
	}
	ratios := make([]float64, 0, 1000)
	for range 1000 {
		for k := range turns {
			turns[k] = rng.IntN(n)
		}
		if d := meanOfMedians(added, pick(den), turns); d > 0 {
			ratios = append(ratios, meanOfMedians(added, pick(num), turns)/d)
		}
	}
	if len(ratios) == 0 {
		return 0, 0
	}
	slices.Sort(ratios)
	return ratios[len(ratios)*25/1000], ratios[len(ratios)*975/1000]
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
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

// BenchmarkProgramRuntime measures the run time of cpudist's program, of
// the empty one and of one that only adds 1 to a per-CPU histogram slot
// (the least a histogram tool does per event), on the same switch-heavy
// workload, with the kernel's BPF statistics (BPF_ENABLE_STATS, on only
// while it runs): ns per run as the kernel times it around the program, so
// the hook's own cost (what BenchmarkSwitchCost's empty program adds) is
// left out and what remains is each program's work per switch, robust to
// other load. The statistics add the same fixed cost to every figure.
// b.N is the round trips per program.
func BenchmarkProgramRuntime(b *testing.B) {
	kerneltest.Need(b, loader.TPBTF)
	pp := startPingPong(b, runtime.NumCPU()-1)
	empty := loadProgram(b, bpf.LoadEmpty, nil, bpf.EmptyProgSchedSwitchEmpty)
	count := loadProgram(b, bpf.LoadEmpty, nil, bpf.EmptyProgSchedSwitchCount)
	cpudist := loadCpudist(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF statistics: %v", err)
	}
	defer stats.Close()

	const turns = 20
	chunk := max(b.N/turns, 100)
	progs := []*ebpf.Program{empty, count, cpudist}
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
	e, n, c := perRun(empty), perRun(count), perRun(cpudist)
	b.ReportMetric(e, "ns/run-empty")
	b.ReportMetric(n, "ns/run-count")
	b.ReportMetric(c, "ns/run-cpudist")
	b.ReportMetric(n-e, "ns/run-count-work")
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

// loadProgram loads program name of the object spec returns, edited by
// edit, and returns it unattached; it is closed at the end of the
// benchmark.
func loadProgram(b *testing.B, spec func() (*ebpf.CollectionSpec, error), edit func(*ebpf.CollectionSpec) error, name string) *ebpf.Program {
	b.Helper()
	s, err := spec()
	if err != nil {
		b.Fatal(err)
	}
	for p := range s.Programs {
		if p != name {
			delete(s.Programs, p)
		}
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
