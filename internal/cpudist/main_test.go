package cpudist

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{
		"cpudist":  Main,
		"worker":   worker,
		"pingpong": pingpong,
	})
}

// workerEnv keeps the Go runtime from splitting the workers' busy loops:
// without asynchronous preemption, a loop that calls no function (spinUntil)
// runs until it is done or the kernel preempts it.
var workerEnv = []string{"GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=8"}

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// spinUntil burns CPU until the monotonic clock reaches deadline. It is
// nosplit and calls only nanotime (nosplit too), so it holds no preemption
// point for the Go scheduler.
//
//go:nosplit
func spinUntil(deadline int64) {
	for nanotime() < deadline {
	}
}

// worker is a child process for the tests. Each of its -threads threads is
// a locked OS thread named NAME-1, NAME-2, ... (-name), pinned to -cpu if
// given, SCHED_FIFO with -rt, reniced with -nice. It prints "ready TID..." and waits for a line on stdin; then every
// thread runs -cycles times: spin -busy, sleep -sleep (nanosleep). Then it
// prints "done" and waits for stdin to close. At both ends every thread is
// blocked, so its CPU time (/proc/PID/task/TID/schedstat) is settled.
// Before "done" it prints "slept TID NS..." per thread: how long each sleep
// took, wake-up included, as the thread saw it.
func worker(ctx context.Context, env cli.Env) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	threads := fs.Int("threads", 1, "threads")
	busy := fs.Duration("busy", 30*time.Millisecond, "spin per cycle")
	sleep := fs.Duration("sleep", 20*time.Millisecond, "sleep per cycle")
	cycles := fs.Int("cycles", 10, "cycles")
	cpu := fs.Int("cpu", -1, "CPU to pin the threads to")
	name := fs.String("name", "cpudist-w", "thread name prefix")
	rt := fs.Bool("rt", false, "run the threads as SCHED_FIFO 1: nothing else preempts them or delays their wake-up")
	nice := fs.Int("nice", 0, "nice value of the threads (-20: others rarely delay their wake-up)")
	if err := fs.Parse(env.Args); err != nil {
		return err
	}

	tids := make([]int, *threads)
	slept := make([][]int64, *threads)
	start, quit := make(chan struct{}), make(chan struct{})
	var ready, done sync.WaitGroup
	errs := make(chan error, *threads)
	for i := range *threads {
		ready.Add(1)
		done.Add(1)
		go func() {
			runtime.LockOSThread() // for good: the thread never runs anything else
			tids[i] = unix.Gettid()
			if err := setThreadName(fmt.Sprintf("%s%d", *name, i+1)); err != nil {
				errs <- err
			}
			if *rt {
				attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
				if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
					errs <- fmt.Errorf("SCHED_FIFO: %w", err)
				}
			}
			if *nice != 0 {
				if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *nice); err != nil {
					errs <- fmt.Errorf("nice %d: %w", *nice, err)
				}
			}
			if *cpu >= 0 {
				var set unix.CPUSet
				set.Set(*cpu)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					errs <- fmt.Errorf("pin to cpu %d: %w", *cpu, err)
				}
			}
			ready.Done()
			<-start
			nap := unix.NsecToTimespec(sleep.Nanoseconds())
			for range *cycles {
				if *busy > 0 {
					spinUntil(nanotime() + busy.Nanoseconds())
				}
				if *sleep > 0 {
					t0 := nanotime()
					for unix.Nanosleep(&nap, &nap) == unix.EINTR {
					}
					slept[i] = append(slept[i], nanotime()-t0)
					nap = unix.NsecToTimespec(sleep.Nanoseconds())
				}
			}
			done.Done()
			<-quit
		}()
	}
	ready.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Fprintf(env.Stdout, "ready %s\n", strings.Trim(fmt.Sprint(tids), "[]"))
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	close(start)
	done.Wait()
	for i, s := range slept {
		fmt.Fprintf(env.Stdout, "slept %d %s\n", tids[i], strings.Trim(fmt.Sprint(s), "[]"))
	}
	fmt.Fprintln(env.Stdout, "done")
	in.ReadString('\n') // until stdin closes or another line
	close(quit)
	return nil
}

func setThreadName(name string) error {
	b := append([]byte(name), 0)
	return unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// pingpong is one end of the benchmark's switch-heavy workload: two
// processes pinned to the same CPU pass a byte back and forth through two
// pipes (fds 3 and 4), so that every hand-over is a context switch.
//
//	pingpong echo CPU     reads a byte from fd 3, writes it to fd 4, until EOF
//	pingpong drive CPU    for each line N on stdin: N round trips, then it
//	                      prints "ELAPSED_NS SWITCHES" (its own context
//	                      switches, from getrusage)
func pingpong(ctx context.Context, env cli.Env) error {
	if len(env.Args) != 2 {
		return fmt.Errorf("usage: pingpong echo|drive CPU")
	}
	cpu, err := strconv.Atoi(env.Args[1])
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	const rfd, wfd = 3, 4
	buf := []byte{0}
	if env.Args[0] == "echo" {
		for {
			if n, _ := unix.Read(rfd, buf); n <= 0 {
				return nil
			}
			if _, err := unix.Write(wfd, buf); err != nil {
				return nil
			}
		}
	}
	fmt.Fprintln(env.Stdout, "ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			return err
		}
		var r0, r1 unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &r0)
		t0 := nanotime()
		for range n {
			unix.Write(wfd, buf)
			unix.Read(rfd, buf)
		}
		elapsed := nanotime() - t0
		unix.Getrusage(unix.RUSAGE_THREAD, &r1)
		fmt.Fprintf(env.Stdout, "%d %d\n", elapsed, (r1.Nvcsw+r1.Nivcsw)-(r0.Nvcsw+r0.Nivcsw))
	}
	return nil
}
