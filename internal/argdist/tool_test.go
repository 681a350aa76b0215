package argdist

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

// TestUsageErrors checks that bad specifiers, and those the compiler
// cannot turn into a verifiable program, exit 2 with one line pointing
// into the specifier, and never show a verifier log.
func TestUsageErrors(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "at least one specifier is required"},
		{[]string{"-C", "x:c:write()"}, "-C 'x:c:write()': column 1: expected the probe kind p (entry), r (return), t (tracepoint) or u (USDT)"},
		{[]string{"-H", "p:c:write(int fd)"}, "-H 'p:c:write(int fd)': column 18: histograms must have an expression"},
		{[]string{"-H", "p:c:write(int fd):int,int:fd,fd"}, "column 30: histograms can only have one expression"},
		{[]string{"-C", "t:syscalls:sys_enter_write():u64:args->cont"}, `column 40: unknown field "cont" of tracepoint syscalls:sys_enter_write: the fields are __syscall_nr, fd, buf, count`},
		{[]string{"-C", "t:syscalls:sys_enter_write():u64:args->count << 70"}, "column 49: shift by 70: out of range 0-63"},
		{[]string{"-C", "t:syscalls:sys_enter_write():u64:1:1/0"}, "column 38: division by zero"},
		{[]string{"-C", "r:c:write():u64:$retval:fd == 1"}, `column 25: unknown name "fd": the signature declares no parameters`},
		{[]string{"-C", "t:syscalls:sys_enter_write()", "-z", "0"}, "-z 0: want a string size from 1 to 4096"},
		{[]string{"-C", "t:syscalls:sys_enter_write()", "-i", "0"}, "-i 0: want a whole number of seconds > 0"},
		{[]string{"-C", "t:syscalls:sys_enter_write()", "--backend", "uprobe"}, `--backend "uprobe": choose fentry or kprobe`},
		{[]string{"-C", "t:syscalls:sys_enter_write()", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			kerneltest.ExpectFailure(t, 2, tt.want, "argdist", tt.args...)
		})
	}
}

// TestVerbose checks that -v prints the generated program.
func TestVerbose(t *testing.T) {
	kerneltest.Root(t)
	st, stdout, _ := kerneltest.Run(t, 30*time.Second, kerneltest.Command("argdist", "-v", "-n", "1", "-C", "t:syscalls:sys_enter_write():u64,char*:args->count,$COMM:args->fd == 1"))
	if st != 0 {
		t.Fatalf("exit %d", st)
	}
	for _, want := range []string{
		"; backend tracepoint",
		"; map p0_counts: PerCPUHash, key 88 bytes, value 8 bytes, 10240 entries",
		"p0:\t; tracepoint/syscalls/sys_enter_write",
		"r6 = r1",
		"if r0 != 1 goto p0_exit",
		"call bpf_get_current_comm#16",
		"call bpf_map_lookup_elem#1",
		"exit",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("-v output lacks %q:\n%s", want, stdout)
		}
	}
}

var stamp = regexp.MustCompile(`(?m)^\[\d\d:\d\d:\d\d\]$`)

// TestIntervals checks -i, -n and -d, and that each report shows only its
// interval unless -c.
func TestIntervals(t *testing.T) {
	kerneltest.Root(t)
	start := time.Now()
	st, out, stderr := kerneltest.Run(t, 30*time.Second, kerneltest.Command("argdist", "-i", "1", "-n", "2", "-C", "t:syscalls:sys_enter_write()"))
	if st != 0 || len(stamp.FindAllString(out, -1)) != 2 {
		t.Errorf("-i 1 -n 2: exit %d, %d reports:\n%s%s", st, len(stamp.FindAllString(out, -1)), out, stderr)
	}
	st, out, _ = kerneltest.Run(t, 30*time.Second, kerneltest.Command("argdist", "-i", "1", "-d", "3", "-C", "t:syscalls:sys_enter_write()"))
	if st != 0 || len(stamp.FindAllString(out, -1)) != 3 {
		t.Errorf("-i 1 -d 3: exit %d, %d reports:\n%s", st, len(stamp.FindAllString(out, -1)), out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}

	for _, cumulative := range []bool{false, true} {
		t.Run(fmt.Sprintf("cumulative=%v", cumulative), func(t *testing.T) {
			const n = 10
			w := startWriter(t, n, "")
			cspec := fmt.Sprintf("t:syscalls:sys_enter_write():u64:args->count:args->fd==%d", writerFD)
			hspec := fmt.Sprintf("t:syscalls:sys_enter_write():u64:args->count:args->fd==%d#sizes", writerFD)
			args := []string{"-i", "1", "-p", strconv.Itoa(w.pid), "-C", cspec, "-H", hspec}
			if cumulative {
				args = append(args, "-c")
			}
			tl := kerneltest.StartTool(t, "argdist", args...)
			tl.WaitStderr("Tracing", readyTimeout)
			// reports returns the complete reports so far: those whose
			// histogram, printed last, is there.
			reports := func() []string {
				parts := stamp.Split(tl.Stdout(), -1)[1:]
				for len(parts) > 0 && !strings.Contains(parts[len(parts)-1], "8 -> 15") {
					parts = parts[:len(parts)-1]
				}
				return parts
			}
			waitFor := func(what string, ok func([]string) bool) []string {
				deadline := time.Now().Add(readyTimeout)
				for {
					if rs := reports(); ok(rs) {
						return rs
					}
					if time.Now().After(deadline) {
						t.Fatalf("no report with %s:\n%s", what, tl.Stdout())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			w.round(t, 1)
			a := len(waitFor("round 1", func(rs []string) bool { return len(rs) > 0 })) // round 1 is in report a-1
			w.round(t, 2)
			// Round 2 is in the reports after a-1: exactly (reports may split
			// it) without -c, and in the last one with the round before with -c.
			want := uint64(1)
			if cumulative {
				want = 2
			}
			sum := func(rs []string) (map[string]uint64, map[int]uint64) {
				if cumulative {
					rs = rs[len(rs)-1:]
				}
				counts, slots := map[string]uint64{}, map[int]uint64{}
				for _, r := range rs {
					for k, v := range freq(t, r, cspec) {
						counts[k] += v
					}
					for k, v := range hist(t, r, "sizes") {
						slots[k] += v
					}
				}
				return counts, slots
			}
			rs := waitFor("round 2", func(rs []string) bool {
				if len(rs) <= a {
					return false
				}
				counts, _ := sum(rs[a:])
				return counts["args->count = 10"] >= want
			})
			out := stop(t, tl)
			counts, slots := sum(rs[a:])
			if len(counts) != n || counts["args->count = 7"] != want {
				t.Errorf("round 2: %v, want %d of each count\n%s", counts, want, out)
			}
			if slots[3] != 4*want {
				t.Errorf("round 2: slot 3 (4 -> 7) %d, want %d\n%s", slots[3], 4*want, out)
			}
		})
	}
}

// TestReleased checks that nothing argdist attached outlives it.
func TestReleased(t *testing.T) {
	kerneltest.Root(t)
	w := startWriter(t, 1, "writer")
	tl := startArgdist(t, "-p", strconv.Itoa(w.pid),
		"-C", "t:syscalls:sys_enter_write():u64:args->count",
		"-H", "r:"+writerPath(t)+":write(int fd):u64:$latency",
		"-C", "u:"+writerPath(t)+":wrote():long:arg2")
	objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Programs) < 4 {
		t.Errorf("argdist holds %d programs, want at least 4", len(objs.Programs))
	}
	if st := tl.Stop(syscall.SIGTERM); st != 0 {
		t.Fatalf("exit %d: %s", st, tl.Stderr())
	}
	kerneltest.AssertReleased(t, objs)
}
