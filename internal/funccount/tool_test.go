package funccount

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// mode is an attach mode and the features it needs.
type mode struct {
	name  string // --attach-mode; "" for the default
	needs []loader.Feature
}

var (
	tracepointModes = []mode{{"", nil}, {"cookies", []loader.Feature{loader.Cookies}}, {"programs", nil}}
	uprobeModes     = []mode{{"", nil}, {"multi", []loader.Feature{loader.UprobeMulti, loader.Cookies}}, {"cookies", []loader.Feature{loader.Cookies}}, {"programs", nil}}
	kprobeModes     = []mode{{"", []loader.Feature{loader.Kprobes}}, {"multi", []loader.Feature{loader.KprobeMulti, loader.Cookies}}, {"cookies", []loader.Feature{loader.Kprobes, loader.Cookies}}, {"programs", []loader.Feature{loader.Kprobes}}}
)

func (m mode) args(args ...string) []string {
	if m.name != "" {
		args = append([]string{"--attach-mode", m.name}, args...)
	}
	return args
}

func (m mode) String() string {
	if m.name == "" {
		return "default"
	}
	return m.name
}

// countOnce runs funccount with args against a fresh fcprog (its pid is
// substituted for PID and its path for PROG), makes fcprog run n, stops
// funccount with SIGINT and returns its one table.
func countOnce(t *testing.T, n int, args ...string) map[string]uint64 {
	t.Helper()
	p := startProg(t)
	for i, a := range args {
		args[i] = strings.NewReplacer("PID", strconv.Itoa(p.PID), "PROG", p.Path).Replace(a)
	}
	tl := kerneltest.StartTool(t, "funccount", args...)
	tl.WaitStdout("Tracing", 60*time.Second)
	p.run(n)
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("exit %d, stderr %q", st, tl.Stderr())
	}
	out := tl.Stdout()
	tables := parseTables(t, out)
	if len(tables) != 1 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Fatalf("want one table and Detaching..., got:\n%s", out)
	}
	return tables[0]
}

func checkCounts(t *testing.T, got, want map[string]uint64) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// TestTracepoints counts fcprog's getppid and getpgid system calls through
// a tracepoint pattern, with -p, in every attach mode.
func TestTracepoints(t *testing.T) {
	for _, m := range tracepointModes {
		t.Run(m.String(), func(t *testing.T) {
			kerneltest.Need(t, m.needs...)
			got := countOnce(t, 7, m.args("-p", "PID", "t:syscalls:sys_enter_getp*")...)
			checkCounts(t, got, map[string]uint64{"syscalls:sys_enter_getppid": 7, "syscalls:sys_enter_getpgid": 14})
		})
	}
}

// TestUserFunctions counts fcprog's fc_* functions; fc_zero, never
// called, is not shown.
func TestUserFunctions(t *testing.T) {
	for _, m := range uprobeModes {
		t.Run(m.String(), func(t *testing.T) {
			kerneltest.Need(t, m.needs...)
			got := countOnce(t, 5, m.args("-p", "PID", "PROG:fc_*")...)
			checkCounts(t, got, map[string]uint64{"fc_one": 5, "fc_two": 10, "fc_three": 15})
		})
	}
}

// TestUSDT counts fcprog's USDT probes, funccount_test:guarded included:
// it fires only while its semaphore is set, which attaching with the
// semaphore as reference counter does.
func TestUSDT(t *testing.T) {
	for _, m := range uprobeModes {
		t.Run(m.String(), func(t *testing.T) {
			kerneltest.Need(t, m.needs...)
			got := countOnce(t, 4, m.args("-p", "PID", "u:PROG:*")...)
			checkCounts(t, got, map[string]uint64{"one": 4, "two": 8, "three": 12, "guarded": 12})
		})
	}
}

// TestRegexp checks -r: a regular expression anchored at the start of the
// name, as bcc's re.match.
func TestRegexp(t *testing.T) {
	kerneltest.Root(t)
	got := countOnce(t, 3, "-r", "PROG:fc_(one|thr)")
	checkCounts(t, got, map[string]uint64{"fc_one": 3, "fc_three": 9})
	got = countOnce(t, 3, "-r", "-p", "PID", "u:PROG:t.*")
	checkCounts(t, got, map[string]uint64{"two": 6, "three": 9})
}

// TestKernelFunctions counts fcprog's system calls at their kernel entry
// functions, in every attach mode. (Not getppid: since 6.9 the syscall
// table is a switch, into which the compiler inlines such small wrappers.)
func TestKernelFunctions(t *testing.T) {
	for _, m := range kprobeModes {
		t.Run(m.String(), func(t *testing.T) {
			kerneltest.Need(t, m.needs...)
			got := countOnce(t, 6, m.args("-p", "PID", "-r", "__x64_sys_get(pgid|sid)$")...)
			checkCounts(t, got, map[string]uint64{"__x64_sys_getpgid": 12, "__x64_sys_getsid": 18})
		})
	}
}

var tracingLine = regexp.MustCompile(`^Tracing (\d+) functions for "vfs_\*"\.\.\. Hit Ctrl-C to end\.$`)

// TestVFS is bcc's first example: every vfs_* function, for a second.
func TestVFS(t *testing.T) {
	kerneltest.Need(t, loader.Kprobes)
	st, out, stderr := kerneltest.Run(t, 120*time.Second, kerneltest.Command("funccount", "-d", "1", "vfs_*"))
	if st != 0 {
		t.Fatalf("exit %d, stderr %q", st, stderr)
	}
	first, _, _ := strings.Cut(out, "\n")
	m := tracingLine.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q", first)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Errorf("vfs_* matched %d functions, want at least 10", n)
	}
	if tables := parseTables(t, out); len(tables) != 1 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Errorf("want one table and Detaching..., got:\n%s", out)
	}
}

var timestamp = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d$`)

// TestInterval checks -i with -T: a timestamped table per interval, each
// with the counts of its interval only, which add up to what fcprog did.
func TestInterval(t *testing.T) {
	kerneltest.Root(t)
	p := startProg(t)
	tl := kerneltest.StartTool(t, "funccount", "-T", "-i", "1", "-p", strconv.Itoa(p.PID), "t:syscalls:sys_enter_getp*")
	tl.WaitStdout("Tracing", 60*time.Second)
	p.run(3)
	tl.WaitStdout("FUNC", 10*time.Second)
	p.run(5)
	time.Sleep(1500 * time.Millisecond)
	p.run(2)
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("exit %d, stderr %q", st, tl.Stderr())
	}
	out := tl.Stdout()
	tables := parseTables(t, out)
	if len(tables) < 3 || len(timestamp.FindAllString(out, -1)) != len(tables) {
		t.Fatalf("want at least 3 tables, each with a timestamp; got:\n%s", out)
	}
	sum := map[string]uint64{}
	for _, tb := range tables {
		for k, v := range tb {
			sum[k] += v
		}
	}
	checkCounts(t, sum, map[string]uint64{"syscalls:sys_enter_getppid": 10, "syscalls:sys_enter_getpgid": 20})
	if strings.Count(out, "Detaching...") != 1 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Errorf("want Detaching... once, at the end:\n%s", out)
	}
}

// TestDuration checks that -d ends the trace by itself.
func TestDuration(t *testing.T) {
	kerneltest.Root(t)
	start := time.Now()
	st, out, stderr := kerneltest.Run(t, 60*time.Second, kerneltest.Command("funccount", "-d", "1", "t:sched:sched_switch"))
	if st != 0 || len(parseTables(t, out)) != 1 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", st, stderr, out)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("ended after %v, before -d 1", d)
	}
	// As bcc: the report of the interval that reaches -d is the last.
	st, out, stderr = kerneltest.Run(t, 60*time.Second, kerneltest.Command("funccount", "-i", "1", "-d", "2", "t:sched:sched_switch"))
	if st != 0 || len(parseTables(t, out)) != 2 || strings.Count(out, "Detaching...") != 1 || !strings.HasSuffix(out, "Detaching...\n") {
		t.Fatalf("-i 1 -d 2: exit %d, stderr %q, stdout:\n%s", st, stderr, out)
	}
}

// TestUsageErrors checks that bad input gives one line and exit 2, and
// nothing on stdout.
func TestUsageErrors(t *testing.T) {
	kerneltest.Root(t)
	p := startProg(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "a pattern is required"},
		{[]string{"a", "b"}, `unexpected argument "b"`},
		{[]string{"-r", "vfs_("}, `pattern "vfs_(": bad regular expression`},
		{[]string{"x:c:malloc"}, `type must be 'p', 't', or 'u', but got "x"`},
		{[]string{"a:b:c:d"}, "too many ':'-separated components"},
		{[]string{"t:nosuchcategory:*"}, `no functions matched by pattern "t:nosuchcategory:*" (tplist lists the tracepoints)`},
		{[]string{p.Path + ":nosuchfunc*"}, `no functions matched by pattern "` + p.Path + `:nosuchfunc*" in ` + p.Path},
		{[]string{"u:" + p.Path + ":nosuch*"}, "no functions matched by pattern"},
		{[]string{p.Path + ":*"}, "at most 1000 can be traced at once: narrow it"},
		{[]string{"nosuchlib:foo"}, "nosuchlib: target not found"},
		{[]string{"-p", "0", "t:sched:*"}, "-p 0: want a process id > 0"},
		{[]string{"-p", "999999999", "t:sched:*"}, "no such process"},
		{[]string{"-i", "0", "t:sched:*"}, "-i 0: want a whole number of seconds > 0"},
		{[]string{"-d", "-1", "t:sched:*"}, "-d -1: want a whole number of seconds > 0"},
		{[]string{"-c", "4096", "t:sched:*"}, "-c 4096: want a CPU from 0"},
		{[]string{"--attach-mode", "fast", "t:sched:*"}, `--attach-mode "fast": choose multi, cookies or programs`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			kerneltest.ExpectFailure(t, 2, tt.want, "funccount", tt.args...)
		})
	}
}

// TestNoKprobes checks the one-line runtime error (exit 1) where the
// kernel cannot count kernel functions.
func TestNoKprobes(t *testing.T) {
	kerneltest.Root(t)
	if loader.Have(loader.Kprobes) == nil {
		t.Skip("the kernel has kprobes")
	}
	kerneltest.ExpectFailure(t, 1, "counting kernel functions needs kprobes", "funccount", "vfs_*")
}

// TestVerbose checks that -v (and bcc's -D) print the program.
func TestVerbose(t *testing.T) {
	kerneltest.Root(t)
	for _, flag := range []string{"-v", "-D"} {
		st, out, stderr := kerneltest.Run(t, 60*time.Second, kerneltest.Command("funccount", flag, "-d", "1", "--attach-mode", "programs", "-p", "1", "-c", "0", "t:sched:sched_switch"))
		if st != 0 {
			t.Fatalf("%s: exit %d, stderr %q", flag, st, stderr)
		}
		for _, want := range []string{
			"; backend tracepoint (programs)",
			"; map counts: PerCPUArray, key 4 bytes, value 8 bytes, 1 entries",
			"count_0:\t; tracepoint/sched/sched_switch",
			"if r1 != 1 goto count_0_exit1",
			"call bpf_get_smp_processor_id#8",
			"r0 = 0\n",
			"call bpf_map_lookup_elem#1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q:\n%s", flag, want, out)
			}
		}
	}
}

// TestSignals checks that SIGINT and SIGTERM print the final table, exit 0
// and leave nothing attached, for each kind of target.
func TestSignals(t *testing.T) {
	for _, tt := range []struct {
		name    string
		needs   []loader.Feature
		pattern string
		min     int // programs + links held
	}{
		{"tracepoint", nil, "t:syscalls:sys_enter_getp*", 1},
		{"uprobe", nil, "PROG:fc_*", 1},
		{"usdt", nil, "u:PROG:*", 1},
		{"kprobe", []loader.Feature{loader.Kprobes}, "__x64_sys_getp*", 1},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(fmt.Sprintf("%s/%v", tt.name, sig), func(t *testing.T) {
				kerneltest.Need(t, tt.needs...)
				p := startProg(t)
				pattern := strings.ReplaceAll(tt.pattern, "PROG", p.Path)
				tl := kerneltest.StartTool(t, "funccount", "-p", strconv.Itoa(p.PID), pattern)
				tl.WaitStdout("Tracing", 60*time.Second)
				objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
				if err != nil {
					t.Fatal(err)
				}
				if len(objs.Programs) < 1 || len(objs.Links)+objs.Perf < tt.min {
					t.Errorf("funccount holds %d programs, %d links, %d perf events", len(objs.Programs), len(objs.Links), objs.Perf)
				}
				p.run(2)
				if st := tl.Stop(sig); st != 0 {
					t.Fatalf("exit %d, stderr %q", st, tl.Stderr())
				}
				if out := tl.Stdout(); len(parseTables(t, out)) != 1 || !strings.HasSuffix(out, "Detaching...\n") {
					t.Errorf("want the final table, got:\n%s", out)
				}
				// uprobe_multi links (and raw_tp, see AwaitReleased) drop their
				// program after an RCU grace period.
				kerneltest.AwaitReleased(t, objs, 5*time.Second)
			})
		}
	}
}
