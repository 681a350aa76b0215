package argdist

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/compiler"
)

// overheadConfig is one program on syscalls:sys_enter_write, or none.
type overheadConfig struct {
	name string
	prog func(b *testing.B) (*ebpf.Program, func())
}

func emptyProgram(b *testing.B) (*ebpf.Program, func()) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.TracePoint,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	return prog, func() { prog.Close() }
}

func specProgram(spec string, hist bool) func(b *testing.B) (*ebpf.Program, func()) {
	return func(b *testing.B) (*ebpf.Program, func()) {
		s, err := parseSpec("-C", spec, hist)
		if err != nil {
			b.Fatal(err)
		}
		coll, err := compiler.Compile([]compiler.Probe{s.probe()}, compiler.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := ebpf.NewCollection(coll.Spec)
		if err != nil {
			b.Fatal(err)
		}
		return c.Programs[coll.Probes[0].Programs[0]], c.Close
	}
}

// BenchmarkOverhead measures what a -C and a -H specifier on a syscall
// tracepoint add to each event, next to an empty program on the same hook,
// in the same run: the CPU time of a write(2) of 64 bytes to /dev/null
// with each attached, the median of interleaved rounds. It also reports the
// programs' own run time from the kernel's BPF statistics.
func BenchmarkOverhead(b *testing.B) {
	kerneltest.Root(b)
	f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	buf := make([]byte, 64)
	if stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer stats.Close()
	}
	configs := []overheadConfig{
		{"none", nil},
		{"empty", emptyProgram},
		{"count", specProgram("t:syscalls:sys_enter_write():u64:args->count", false)},
		{"hist", specProgram("t:syscalls:sys_enter_write():u64:args->count", true)},
	}
	// Many short interleaved rounds, each config's median round kept: the
	// machine is shared, and other processes' bursts land in a few rounds.
	const rounds = 21
	perRound := max(b.N/rounds, 1000)
	perWrite := make([][]float64, len(configs))
	progNs := make([][]float64, len(configs))
	// Load everything first: freeing a map in the background would slow
	// the next config's round.
	progs := make([]*ebpf.Program, len(configs))
	for i, c := range configs {
		if c.prog != nil {
			var cleanup func()
			progs[i], cleanup = c.prog(b)
			defer cleanup()
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for range rounds {
		for i := range configs {
			prog := progs[i]
			var l link.Link
			if prog != nil {
				if l, err = link.Tracepoint("syscalls", "sys_enter_write", prog, nil); err != nil {
					b.Fatal(err)
				}
			}
			var before time.Duration
			var beforeRuns uint64
			if prog != nil {
				if st, err := prog.Stats(); err == nil {
					before, beforeRuns = st.Runtime, st.RunCount
				}
			}
			start := threadCPU(b)
			for range perRound {
				if _, err := unix.Write(fd, buf); err != nil {
					b.Fatal(err)
				}
			}
			perWrite[i] = append(perWrite[i], float64(threadCPU(b)-start)/float64(perRound))
			if prog != nil {
				if st, err := prog.Stats(); err == nil && st.RunCount > beforeRuns {
					progNs[i] = append(progNs[i], float64((st.Runtime-before).Nanoseconds())/float64(st.RunCount-beforeRuns))
				}
				l.Close()
			}
		}
	}
	b.StopTimer()
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	ns := func(i int) float64 { return median(perWrite[i]) }
	for i, c := range configs {
		b.ReportMetric(ns(i), "ns/write-"+c.name)
		if p := median(progNs[i]); p > 0 {
			b.ReportMetric(p, "ns/run-"+c.name)
		}
	}
	b.ReportMetric(ns(2)/ns(1), "count/empty")
	b.ReportMetric(ns(3)/ns(1), "hist/empty")
}

// threadCPU returns the CPU time this thread has used, in ns: what a
// write costs, without the time other processes on this shared machine
// take from it.
func threadCPU(b *testing.B) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return ts.Nano()
}

// startToReady runs cmd until a line of the stream contains ready and
// returns how long that took; the command is then killed.
func startToReady(b *testing.B, cmd *exec.Cmd, stderr bool, ready string) time.Duration {
	var r io.ReadCloser
	var err error
	if stderr {
		r, err = cmd.StderrPipe()
	} else {
		r, err = cmd.StdoutPipe()
	}
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), ready) {
			return time.Since(start)
		}
	}
	b.Fatalf("%s never printed %q", cmd, ready)
	return 0
}

// BenchmarkStartToReady measures the time from exec to tracing of argdist
// with a -H specifier on syscalls:sys_enter_write, next to bpftrace (if
// installed) running the equivalent one-liner, in the same run.
func BenchmarkStartToReady(b *testing.B) {
	kerneltest.Root(b)
	bpftrace, bpftraceErr := exec.LookPath("bpftrace")
	var ours, withBTF, theirs time.Duration
	n := 0
	for b.Loop() {
		ours += startToReady(b, kerneltest.Command("argdist", "-H", "t:syscalls:sys_enter_write():u64:args->count"), true, "Tracing")
		// A struct member: the kernel's BTF is loaded and searched too.
		withBTF += startToReady(b, kerneltest.Command("argdist", "-H", "t:syscalls:sys_enter_write():int:((struct task_struct *)args->buf)->pid"), true, "Tracing")
		if bpftraceErr == nil {
			// BEGIN fires once every probe is attached.
			theirs += startToReady(b, exec.Command(bpftrace, "-e", `tracepoint:syscalls:sys_enter_write { @ = hist(args->count); } BEGIN { printf("ready\n"); }`), false, "ready")
		}
		n++
	}
	b.ReportMetric(float64(ours.Microseconds())/1000/float64(n), "ms/argdist")
	b.ReportMetric(float64(withBTF.Microseconds())/1000/float64(n), "ms/argdist-btf")
	if bpftraceErr == nil {
		b.ReportMetric(float64(theirs.Microseconds())/1000/float64(n), "ms/bpftrace")
		b.ReportMetric(float64(theirs)/float64(ours), "bpftrace/argdist")
	} else {
		b.Logf("bpftrace not installed: %v", bpftraceErr)
	}
}
