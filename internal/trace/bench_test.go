package trace

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

// spin is the event source of the benchmarks and of the loss test, run as a
// child: it prints "ready", waits for a line on stdin, then makes N
// getppid(2) calls from each of THREADS threads as fast as they go, and
// prints "done".
//
//	spin N THREADS
func spin(ctx context.Context, env cli.Env) error {
	if len(env.Args) != 2 {
		return cli.Usagef("usage: spin N THREADS")
	}
	n, err1 := strconv.Atoi(env.Args[0])
	threads, err2 := strconv.Atoi(env.Args[1])
	if err1 != nil || err2 != nil || n < 0 || threads < 1 {
		return cli.Usagef("spin %q: want N >= 0 and THREADS >= 1", env.Args)
	}
	fmt.Fprintln(env.Stdout, "ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			for range n {
				unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(env.Stdout, "done")
	return nil
}

// startSpin starts spin as a child and waits for its "ready".
func startSpin(t testing.TB, n, threads int) *kerneltest.Child {
	t.Helper()
	return kerneltest.StartChildCmd(t, kerneltest.Command("spin", strconv.Itoa(n), strconv.Itoa(threads)))
}

// delivery is one run: n events made at a rate, and what became of them.
type delivery struct {
	n       int
	elapsed time.Duration // from the first event to the tool's exit
	lost    uint64
	exited  bool // the tool stopped by itself after n events (trace -M)
}

func (d delivery) rate() float64 { return float64(d.n) / d.elapsed.Seconds() }

var lostRE = regexp.MustCompile(`(?:Possibly lost|Lost) (\d+)`)

// deliver runs the event source and the tool started by tool(pid) with
// stdout to /dev/null.
func deliver(b *testing.B, n, threads int, tool func(pid int) *exec.Cmd) delivery {
	src := startSpin(b, n/threads, threads)
	cmd := tool(src.PID)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	cmd.Stdout = null
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var errBuf bytes.Buffer
	errDone := make(chan struct{})
	go func() { io.Copy(&errBuf, stderr); close(errDone) }()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// Attached: the tool holds a perf event (tracepoint) or a BPF link.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		objs, _ := kerneltest.HeldBy(cmd.Process.Pid)
		if objs.Perf > 0 || len(objs.Links) > 0 {
			break
		}
		select {
		case <-exited:
			<-errDone
			b.Fatalf("%s exited before attaching: %s", cmd, errBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not attach", cmd)
		}
	}
	// bpftrace attaches before it starts reading: give it time.
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	src.Send("go")
	src.Expect("done")
	d := delivery{n: n}
	select {
	case <-exited:
		d.exited = true
	case <-time.After(3 * time.Second):
		// Not all events arrived (trace -M), or the tool runs until
		// stopped (bpftrace): stop it; it drains and reports losses.
		cmd.Process.Signal(syscall.SIGINT)
		<-exited
	}
	d.elapsed = time.Since(start)
	<-errDone
	for _, m := range lostRE.FindAllStringSubmatch(errBuf.String(), -1) {
		v, _ := strconv.ParseUint(m[1], 10, 64)
		d.lost += v
	}
	return d
}

// BenchmarkDelivery measures the events per second trace prints to
// /dev/null without losing any, at the default buffer size: getppid(2)
// calls of one process on a tracepoint probe. Each run makes 2 million
// events and the tool exits once it has printed them all (trace -M,
// bpftrace exit()), so a run without loss is timed from the first event
// to the last line. Runs: one source thread (as fast as it goes, about
// 1.2 million a second here), two threads (more than trace can print on
// this 2-core machine: the losses must be reported), the perf buffer, and
// bpftrace, if installed, printing the same line from the same probe.
func BenchmarkDelivery(b *testing.B) {
	kerneltest.Root(b)
	const n = 2_000_000
	probe := `t:syscalls:sys_enter_getppid "hello %d", args->__syscall_nr`
	ours := func(extra ...string) func(pid int) *exec.Cmd {
		return func(pid int) *exec.Cmd {
			args := append([]string{"-M", strconv.Itoa(n), "-p", strconv.Itoa(pid)}, extra...)
			return kerneltest.Command("trace", append(args, probe)...)
		}
	}
	report := func(name string, d delivery) {
		if d.exited && d.lost == 0 {
			b.ReportMetric(d.rate(), "events/s-"+name)
		}
		b.ReportMetric(float64(d.lost), "lost-"+name)
		b.Logf("%-18s %d events in %6.3fs = %8.0f/s, lost %d, all printed: %v", name+":", d.n, d.elapsed.Seconds(), d.rate(), d.lost, d.exited)
	}
	for b.Loop() {
		report("ring-1-thread", deliver(b, n, 1, ours()))
		report("ring-2-threads", deliver(b, n, 2, ours()))
		report("perf-1-thread", deliver(b, n, 1, ours("--perf-buffer")))
		if bt, err := exec.LookPath("bpftrace"); err == nil {
			report("bpftrace-1-thread", deliver(b, n, 1, func(pid int) *exec.Cmd {
				return exec.Command(bt, "-e", fmt.Sprintf(`tracepoint:syscalls:sys_enter_getppid /pid == %d/ { printf("%%-7d %%-7d %%-15s %%-16s hello %%d\n", pid, tid, comm, "sys_enter_getppid", args->__syscall_nr); @c++; if (@c == %d) { exit(); } }`, pid, n))
			}))
		} else {
			b.Logf("bpftrace not installed: %v", err)
		}
	}
}
