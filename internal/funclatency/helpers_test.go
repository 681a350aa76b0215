package funclatency

import (
	"fmt"
	"io"
	"math/bits"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/histogram"
)

// readyTimeout bounds waits; kernels under qemu TCG on a loaded host are slow.
const readyTimeout = 90 * time.Second

// Durations the tests ask lat for: each at the bottom of a log2 slot in
// every unit (9 ms: 8388608 -> 16777215 nsecs, 8192 -> 16383 usecs, 8 -> 15
// msecs; 20 ms: the slot above), so that a sleep may overshoot by 70% before
// its slot changes; the tests check against what lat measured anyway.
const (
	sleepNS = 9_000_000
	otherNS = 20_000_000
)

// lat is a running testdata/lat.
type lat struct {
	tl    *kerneltest.Tool
	stdin io.WriteCloser
	pid   int
	done  int
}

func latPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/lat")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startLat(t *testing.T) *lat {
	t.Helper()
	cmd := exec.Command(latPath(t))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tl := kerneltest.Start(t, cmd)
	tl.WaitStdout("ready", readyTimeout)
	t.Cleanup(func() { io.WriteString(stdin, "quit\n"); stdin.Close() })
	return &lat{tl: tl, stdin: stdin, pid: cmd.Process.Pid}
}

// call is one timed call: at least want nanoseconds, measured as got by
// its caller, so a probe inside measures from want to got.
type call struct{ want, got int64 }

// do runs one lat command and returns the calls it made.
func (l *lat) do(t *testing.T, cmd string, n int, ns int64) []call {
	t.Helper()
	fmt.Fprintf(l.stdin, "%s %d %d\n", cmd, n, ns)
	l.done++
	deadline := time.Now().Add(readyTimeout)
	for {
		var lines []string
		for _, line := range strings.Split(l.tl.Stdout(), "\n") {
			if strings.HasPrefix(line, "done") {
				lines = append(lines, line)
			}
		}
		if len(lines) >= l.done {
			f := strings.Fields(lines[l.done-1])[1:]
			calls := make([]call, len(f))
			for i, s := range f {
				got, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatalf("lat: bad line %q", lines[l.done-1])
				}
				calls[i] = call{want: ns, got: got}
				if cmd == "recurse" {
					// Outermost first: level d from the inside takes 2^(d-1) ns.
					calls[i].want = ns << (len(f) - 1 - i)
				}
			}
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("lat did not answer %q: %s", cmd, l.tl.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startFunclatency starts funclatency and waits until it traces.
func startFunclatency(t *testing.T, args ...string) *kerneltest.Tool {
	t.Helper()
	tl := kerneltest.StartTool(t, "funclatency", args...)
	tl.WaitStdout("Hit Ctrl-C to end.", readyTimeout)
	return tl
}

// stop interrupts funclatency and returns its output, failing on a bad exit.
func stop(t *testing.T, tl *kerneltest.Tool, sig syscall.Signal) string {
	t.Helper()
	if st := tl.Stop(sig); st != 0 {
		t.Fatalf("funclatency exited %d\nstderr:\n%s", st, tl.Stderr())
	}
	out := tl.Stdout()
	if !strings.HasSuffix(out, "\nDetaching...\n") {
		t.Errorf("output does not end with Detaching...:\n%s", out)
	}
	return out
}

// report is one report of funclatency's output.
type report struct {
	stamp string
	unit  string
	// hists are the slot counts by section ("" without -F).
	hists map[string]map[int]uint64
	// The summary line, if any.
	summary            bool
	avg, total, count  uint64
	avgUnit, totalUnit string
}

var (
	stampLine   = regexp.MustCompile(`^\d\d:\d\d:\d\d$`)
	headLine    = regexp.MustCompile(`^ +(\w+) +: count +distribution$`)
	rowLine     = regexp.MustCompile(`^ +(\d+) -> (\d+) +: (\d+) +\|[*+ ]*\|$`)
	sectionLine = regexp.MustCompile(`^Function = (.+)$`)
	summaryLine = regexp.MustCompile(`^avg = (\d+) (\w+), total: (\d+) (\w+), count: (\d+)$`)
)

// parse splits funclatency's output into reports (at timestamps with -T,
// else one) and checks every line is one funclatency prints. A last line
// still being written is left out.
func parse(t *testing.T, out string) []report {
	t.Helper()
	out = out[:strings.LastIndex(out, "\n")+1]
	var (
		rs      []report
		section string
	)
	cur := func() *report {
		if len(rs) == 0 {
			rs = append(rs, report{hists: map[string]map[int]uint64{}})
		}
		return &rs[len(rs)-1]
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case l == "" || l == "Detaching..." || strings.HasPrefix(l, "Tracing "):
		case stampLine.MatchString(l):
			rs = append(rs, report{stamp: l, hists: map[string]map[int]uint64{}})
			section = ""
		case sectionLine.MatchString(l):
			section = sectionLine.FindStringSubmatch(l)[1]
		case headLine.MatchString(l):
			r := cur()
			r.unit = headLine.FindStringSubmatch(l)[1]
			r.hists[section] = map[int]uint64{}
		case rowLine.MatchString(l):
			m := rowLine.FindStringSubmatch(l)
			high, _ := strconv.ParseUint(m[2], 10, 64)
			n, _ := strconv.ParseUint(m[3], 10, 64)
			if n > 0 {
				cur().hists[section][bits.Len64(high)] += n
			}
		case summaryLine.MatchString(l):
			m := summaryLine.FindStringSubmatch(l)
			r := cur()
			r.summary = true
			r.avg, _ = strconv.ParseUint(m[1], 10, 64)
			r.avgUnit = m[2]
			r.total, _ = strconv.ParseUint(m[3], 10, 64)
			r.totalUnit = m[4]
			r.count, _ = strconv.ParseUint(m[5], 10, 64)
		default:
			t.Errorf("unexpected line %q in:\n%s", l, out)
		}
	}
	return rs
}

// checkHist checks a histogram against the calls it should count: each in
// the slot of its duration in unit (divided by div), which lies between
// what it asked for and what its caller measured. A call whose two bounds
// fall in different slots may be in either; every other count is exact.
func checkHist(t *testing.T, what string, got map[int]uint64, calls []call, div int64) {
	t.Helper()
	certain, possible := map[int]uint64{}, map[int]uint64{}
	ambiguous := 0
	for _, c := range calls {
		lo, hi := histogram.Log2Slot(uint64(c.want/div)), histogram.Log2Slot(uint64(c.got/div))
		for s := lo; s <= hi; s++ {
			possible[s]++
		}
		if lo == hi {
			certain[lo]++
		} else {
			ambiguous++
		}
	}
	if ambiguous > 0 {
		t.Logf("%s: %d of %d calls took long enough to reach the next slot", what, ambiguous, len(calls))
	}
	var sum uint64
	for s, n := range got {
		sum += n
		if n > possible[s] {
			t.Errorf("%s: slot %d has %d calls, at most %d can be there (calls %v, histogram %v)", what, s, n, possible[s], calls, got)
		}
	}
	for s, n := range certain {
		if got[s] < n {
			t.Errorf("%s: slot %d has %d calls, want at least %d (calls %v, histogram %v)", what, s, got[s], n, calls, got)
		}
	}
	if sum != uint64(len(calls)) {
		t.Errorf("%s: %d calls counted, want %d (calls %v, histogram %v)", what, sum, len(calls), calls, got)
	}
}

// checkSummary checks the "avg = ..., total: ..., count: N" line against
// calls: the count exactly, the total between what the calls asked for and
// what was measured, the average as bcc computes it from the two.
func checkSummary(t *testing.T, r report, unit string, calls []call, div int64) {
	t.Helper()
	var want, got int64
	for _, c := range calls {
		want += c.want
		got += c.got
	}
	switch {
	case !r.summary:
		t.Errorf("no summary line")
	case r.count != uint64(len(calls)):
		t.Errorf("summary count %d, want %d", r.count, len(calls))
	case r.avgUnit != unit || r.totalUnit != unit:
		t.Errorf("summary in %s and %s, want %s", r.avgUnit, r.totalUnit, unit)
	case r.total < uint64(want/div) || r.total > uint64(got/div):
		t.Errorf("summary total %d %s, want %d to %d", r.total, unit, want/div, got/div)
	case r.avg != r.total/r.count:
		t.Errorf("summary avg %d, want total/count = %d", r.avg, r.total/r.count)
	}
}
