package funclatency

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// TestUnits times lat_sleep in each unit: one histogram of exactly the
// calls made, in their slots, and bcc's summary line.
func TestUnits(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		flag, unit string
		div        int64
	}{
		{"", "nsecs", 1},
		{"-u", "usecs", 1000},
		{"-m", "msecs", 1000000},
	} {
		t.Run(tt.unit, func(t *testing.T) {
			l := startLat(t)
			args := []string{"-p", strconv.Itoa(l.pid), latPath(t) + ":lat_sleep"}
			if tt.flag != "" {
				args = append([]string{tt.flag}, args...)
			}
			tl := startFunclatency(t, args...)
			calls := l.do(t, "sleep", 3, sleepNS)
			l.do(t, "other", 2, otherNS) // not matched
			out := stop(t, tl, syscall.SIGINT)
			if want := fmt.Sprintf("Tracing 1 functions for \"%s:lat_sleep\"... Hit Ctrl-C to end.\n", latPath(t)); !strings.HasPrefix(out, want) {
				t.Errorf("output does not start with %q:\n%s", want, out)
			}
			rs := parse(t, out)
			if len(rs) != 1 || len(rs[0].hists) != 1 || rs[0].unit != tt.unit {
				t.Fatalf("want one %s histogram:\n%s", tt.unit, out)
			}
			checkHist(t, tt.unit, rs[0].hists[""], calls, tt.div)
			checkSummary(t, rs[0], tt.unit, calls, tt.div)
		})
	}
}

// TestPerFunction checks -F: a section per function called, none for the
// function matched but not called, and one summary for all.
func TestPerFunction(t *testing.T) {
	kerneltest.Root(t)
	l := startLat(t)
	tl := startFunclatency(t, "-uF", "-p", strconv.Itoa(l.pid), latPath(t)+":lat_*")
	sleeps := l.do(t, "sleep", 3, sleepNS)
	others := l.do(t, "other", 2, otherNS)
	out := stop(t, tl, syscall.SIGINT)
	if !strings.HasPrefix(out, "Tracing 3 functions for") {
		t.Errorf("want 3 functions traced (lat_other, lat_recurse, lat_sleep):\n%s", out)
	}
	rs := parse(t, out)
	if len(rs) != 1 || len(rs[0].hists) != 2 {
		t.Fatalf("want one report of two sections:\n%s", out)
	}
	for name, calls := range map[string][]call{"lat_sleep": sleeps, "lat_other": others} {
		label := fmt.Sprintf("%s [%d]", name, l.pid)
		h, ok := rs[0].hists[label]
		if !ok {
			t.Errorf("no section %q:\n%s", label, out)
			continue
		}
		checkHist(t, label, h, calls, 1000)
	}
	if i, j := strings.Index(out, "Function = lat_other"), strings.Index(out, "Function = lat_sleep"); i < 0 || j < i {
		t.Errorf("sections not in name order:\n%s", out)
	}
	checkSummary(t, rs[0], "usecs", append(sleeps, others...), 1000)
}

// TestNesting times recursive calls: innermost only without -l, the
// outermost LEVEL levels with -l LEVEL (-r for a regular expression).
func TestNesting(t *testing.T) {
	kerneltest.Root(t)
	const depth, base = 4, 2_200_000 // levels of 2.2, 4.4, 8.8 and 17.6 ms
	for _, tt := range []struct {
		args  []string
		level int // outermost levels timed; 0: the innermost only
	}{
		{nil, 0},
		{[]string{"-l", "1"}, 1},
		{[]string{"-l", "2"}, 2},
		{[]string{"-l", "4"}, 4},
		{[]string{"-l", "32", "-r"}, 4},
	} {
		t.Run(strings.Join(append([]string{"level"}, tt.args...), " "), func(t *testing.T) {
			l := startLat(t)
			pattern := latPath(t) + ":lat_rec*"
			if len(tt.args) > 2 {
				pattern = latPath(t) + ":lat_rec.*"
			}
			tl := startFunclatency(t, append(tt.args, "-p", strconv.Itoa(l.pid), pattern)...)
			calls := l.do(t, "recurse", depth, base) // outermost first
			calls = append(calls, l.do(t, "recurse", depth, base)...)
			out := stop(t, tl, syscall.SIGINT)
			var want []call
			for i, c := range calls {
				if d := i % depth; tt.level == 0 && d == depth-1 || d < tt.level {
					want = append(want, c)
				}
			}
			rs := parse(t, out)
			if len(rs) != 1 || len(rs[0].hists) != 1 {
				t.Fatalf("want one histogram:\n%s", out)
			}
			checkHist(t, "recursion", rs[0].hists[""], want, 1)
			checkSummary(t, rs[0], "nsecs", want, 1)
		})
	}
}

// TestPID checks that -p keeps the calls of one process, and that without
// it the calls of every process are timed.
func TestPID(t *testing.T) {
	kerneltest.Root(t)
	a, b := startLat(t), startLat(t)
	one := startFunclatency(t, "-p", strconv.Itoa(a.pid), latPath(t)+":lat_sleep")
	all := startFunclatency(t, latPath(t)+":lat_sleep")
	ca := a.do(t, "sleep", 2, sleepNS)
	cb := b.do(t, "sleep", 3, sleepNS)
	out := stop(t, one, syscall.SIGINT)
	rs := parse(t, out)
	if len(rs) != 1 {
		t.Fatalf("want one report:\n%s", out)
	}
	checkHist(t, "-p", rs[0].hists[""], ca, 1)
	checkSummary(t, rs[0], "nsecs", ca, 1)
	out = stop(t, all, syscall.SIGTERM)
	rs = parse(t, out)
	if len(rs) != 1 {
		t.Fatalf("want one report:\n%s", out)
	}
	// Other processes cannot run testdata/lat: every call is the test's.
	checkHist(t, "all processes", rs[0].hists[""], append(ca, cb...), 1)
}

// TestInterval checks -i with -T: reports with timestamps, each with the
// calls of its interval only, and -d ending the trace.
func TestInterval(t *testing.T) {
	kerneltest.Root(t)
	l := startLat(t)
	tl := kerneltest.StartTool(t, "funclatency", "-T", "-i", "1", "-p", strconv.Itoa(l.pid), latPath(t)+":lat_sleep")
	tl.WaitStdout("Hit Ctrl-C to end.", readyTimeout)
	// complete returns the reports printed so far whose summary line is
	// there, and their count of calls.
	complete := func() ([]report, uint64) {
		rs := parse(t, tl.Stdout())
		var n uint64
		for _, r := range rs {
			n += r.count
		}
		return rs, n
	}
	wait := func(calls uint64) []report {
		deadline := time.Now().Add(readyTimeout)
		for {
			rs, n := complete()
			if n >= calls {
				return rs
			}
			if time.Now().After(deadline) {
				t.Fatalf("no report of %d calls:\n%s", calls, tl.Stdout())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	first := l.do(t, "sleep", 2, sleepNS)
	n := len(wait(2))
	second := l.do(t, "sleep", 3, sleepNS)
	wait(5)
	out := stop(t, tl, syscall.SIGINT)
	rs := parse(t, out)
	for i, r := range rs {
		if r.stamp == "" {
			t.Errorf("report %d has no timestamp:\n%s", i, out)
		}
	}
	// The first round is in the reports up to n, the second after.
	sum := func(rs []report) map[int]uint64 {
		m := map[int]uint64{}
		for _, r := range rs {
			for s, c := range r.hists[""] {
				m[s] += c
			}
		}
		return m
	}
	checkHist(t, "round 1", sum(rs[:n]), first, 1)
	checkHist(t, "round 2", sum(rs[n:]), second, 1)

	start := time.Now()
	st, out, stderr := kerneltest.Run(t, readyTimeout, kerneltest.Command("funclatency", "-T", "-i", "1", "-d", "2", "-p", strconv.Itoa(l.pid), latPath(t)+":lat_sleep"))
	if st != 0 || len(parse(t, out)) != 2 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Errorf("-i 1 -d 2: exit %d, want 2 reports then Detaching...:\n%s%s", st, out, stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("-d 2 took %v", d)
	}
}

// TestUsageErrors checks that bad input exits 2 with one line naming the
// cause, and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	kerneltest.Root(t)
	lat := latPath(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "a pattern is required"},
		{[]string{"a", "b"}, `unexpected argument "b"`},
		{[]string{"-i", "0", "vfs_read"}, "-i 0: want a whole number of seconds > 0"},
		{[]string{"-d", "-1", "vfs_read"}, "-d -1: want a whole number of seconds > 0"},
		{[]string{"-l", "0", "vfs_read"}, "-l 0: want a level from 1 to 32"},
		{[]string{"-l", "33", "vfs_read"}, "-l 33: want a level from 1 to 32"},
		{[]string{"-u", "-m", "vfs_read"}, "-u and -m: choose one unit"},
		{[]string{"--backend", "uprobe", "vfs_read"}, `--backend "uprobe": choose fentry or kprobe`},
		{[]string{"-p", "999999999", "vfs_read"}, "999999999"},
		{[]string{"t:sched:sched_switch"}, "tracepoints and USDT probes have no return"},
		{[]string{"a:b:c:d"}, "too many ':'-separated components"},
		{[]string{"-r", lat + ":lat_(", "-p", "1"}, "bad regular expression"},
		{[]string{"no_such_library_xyz:foo"}, "no_such_library_xyz"},
		{[]string{lat + ":nothing_*"}, `0 functions matched by "` + lat + `:nothing_*"`},
		{[]string{"no_such_kernel_function_xyz"}, `0 functions matched by "no_such_kernel_function_xyz"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			kerneltest.ExpectFailure(t, 2, tt.want, "funclatency", tt.args...)
		})
	}
}

// TestNoKernelFunctionProbes checks the run-time error where the kernel
// hooks functions with neither kprobes nor fentry: one line, exit 1.
func TestNoKernelFunctionProbes(t *testing.T) {
	kerneltest.Root(t)
	if loader.Have(loader.Kprobes) == nil || loader.Have(loader.Fentry) == nil {
		t.Skip("this kernel has kprobes or fentry")
	}
	kerneltest.ExpectFailure(t, 1, "need fentry or kprobes", "funclatency", "vfs_read")
}

// TestReleased checks that funclatency exits 0 on SIGTERM with its report
// and leaves nothing attached.
func TestReleased(t *testing.T) {
	kerneltest.Root(t)
	l := startLat(t)
	tl := startFunclatency(t, "-F", "-l", "3", "-p", strconv.Itoa(l.pid), latPath(t)+":lat_*")
	objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Programs) < 6 {
		t.Errorf("funclatency holds %d programs, want 6 (entry and return for 3 functions)", len(objs.Programs))
	}
	calls := l.do(t, "sleep", 1, sleepNS)
	out := stop(t, tl, syscall.SIGTERM)
	rs := parse(t, out)
	if len(rs) != 1 {
		t.Fatalf("want one report:\n%s", out)
	}
	checkHist(t, "lat_sleep", rs[0].hists[fmt.Sprintf("lat_sleep [%d]", l.pid)], calls, 1)
	kerneltest.AssertReleased(t, objs)
}

// TestKernelFunction times hrtimer_nanosleep, which lat's sleeps go
// through, with each backend the kernel has.
func TestKernelFunction(t *testing.T) {
	kerneltest.Root(t)
	for _, backend := range []struct {
		name string
		need loader.Feature
	}{{"kprobe", loader.Kprobes}, {"fentry", loader.Fentry}} {
		t.Run(backend.name, func(t *testing.T) {
			kerneltest.Need(t, backend.need)
			l := startLat(t)
			tl := startFunclatency(t, "--backend", backend.name, "-F", "-p", strconv.Itoa(l.pid), "hrtimer_nanoslee*")
			calls := l.do(t, "sleep", 3, sleepNS)
			out := stop(t, tl, syscall.SIGINT)
			rs := parse(t, out)
			if len(rs) != 1 {
				t.Fatalf("want one report:\n%s", out)
			}
			checkHist(t, "hrtimer_nanosleep", rs[0].hists["hrtimer_nanosleep"], calls, 1)
			checkSummary(t, rs[0], "nsecs", calls, 1)
		})
	}
}
