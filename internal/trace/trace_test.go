package trace

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

func itoa(n int) string { return strconv.Itoa(n) }

// line is one parsed output line.
type line struct {
	pid, tid int
	comm, fn string
	msg      string
}

var lineRE = regexp.MustCompile(`^(\d+)\s+(\d+)\s+(.{15}) (\S+)\s+(.*)$`)

// parseLines parses trace's default columns, after the header (and
// after -v's listing).
func parseLines(t testing.TB, out string) []line {
	t.Helper()
	if i := strings.Index(out, "PID     TID"); i > 0 {
		out = out[i:]
	}
	var ls []line
	for i, s := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i == 0 {
			if !strings.HasPrefix(s, "PID     TID     COMM            FUNC") {
				t.Fatalf("header %q", s)
			}
			continue
		}
		if s == "" || strings.HasPrefix(s, "        ") {
			continue // -K, -U stacks
		}
		m := lineRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("line %q does not have trace's columns", s)
		}
		pid, _ := strconv.Atoi(m[1])
		tid, _ := strconv.Atoi(m[2])
		ls = append(ls, line{pid: pid, tid: tid, comm: strings.TrimSpace(m[3]), fn: m[4], msg: m[5]})
	}
	return ls
}

// messages returns the messages of fn's lines.
func messages(ls []line, fn string) []string {
	var ms []string
	for _, l := range ls {
		if l.fn == fn {
			ms = append(ms, l.msg)
		}
	}
	return ms
}

// traceClassic runs trace with probes on a run of testdata/classic n, and
// returns its lines once it has printed want of them.
func traceClassic(t *testing.T, n, want int, args ...string) ([]line, *kerneltest.Tool) {
	t.Helper()
	c := startClassic(t, n)
	tl := kerneltest.StartTool(t, "trace", append([]string{"-p", itoa(c.pid())}, args...)...)
	tl.WaitStdout("PID", 20*time.Second)
	objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
	if err != nil || len(objs.Programs) == 0 {
		t.Fatalf("trace holds no programs: %v", err)
	}
	c.run(t)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(tl.Stdout(), "\n") < want+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Extra lines would show up now.
	time.Sleep(200 * time.Millisecond)
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("exit %d\n%s", st, tl.Stderr())
	}
	kerneltest.AssertReleased(t, objs)
	ls := parseLines(t, tl.Stdout())
	for _, l := range ls {
		if l.pid != c.pid() {
			t.Errorf("line of pid %d, not the traced %d: %+v", l.pid, c.pid(), l)
		}
	}
	return ls, tl
}

func seq(n int, f func(i int) string) []string {
	var s []string
	for i := 1; i <= n; i++ {
		s = append(s, f(i))
	}
	return s
}

// TestClassics runs bcc's classic examples as trace one-liners, all at once,
// against a program that does each a known number of times: hello world on
// clone, vim's readfile name (a uprobe with a string argument), writes of a
// given size (a tracepoint with a field filter), and node's HTTP request path
// (a USDT probe with string arguments).
func TestClassics(t *testing.T) {
	kerneltest.Root(t)
	const n = 6
	bin := classicPath(t)
	ls, tl := traceClassic(t, n, 4*n-2,
		`t:syscalls:sys_enter_clone "hello, world"`,
		bin+`:readfile "%s", arg1`,
		`t:syscalls:sys_enter_write (args->fd == 77 && args->count > 2) "wrote %d bytes", args->count`,
		`u:`+bin+`:request "%s %s (%d)", arg1, arg2, arg3`,
	)
	for _, tt := range []struct {
		fn   string
		want []string
	}{
		{"sys_enter_clone", seq(n, func(int) string { return "hello, world" })},
		{"readfile", seq(n, func(i int) string { return fmt.Sprintf("file-%d.txt", i) })},
		{"sys_enter_write", seq(n, func(i int) string { return fmt.Sprintf("wrote %d bytes", i) })[2:]},
		{"request", seq(n, func(i int) string { return fmt.Sprintf("GET /page-%d.html (%d)", i, i) })},
	} {
		if got := messages(ls, tt.fn); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.fn, got, tt.want)
		}
	}
	if len(ls) != 4*n-2 {
		t.Errorf("%d lines, want %d:\n%s", len(ls), 4*n-2, tl.Stdout())
	}
	for _, l := range ls {
		if l.comm != "classic" {
			t.Errorf("comm %q, want classic", l.comm)
		}
	}
}

// TestRetval checks a uretprobe's retval, and $tgid and $comm.
func TestRetval(t *testing.T) {
	kerneltest.Root(t)
	const n = 4
	ls, _ := traceClassic(t, n, n, classicPath(t)+`:readfile`, `r:`+classicPath(t)+`:readfile (retval > 12) "%d %d %s", retval, $tgid, $comm`)
	var want []string
	for i := 1; i <= n; i++ {
		if 10+i > 12 {
			want = append(want, fmt.Sprintf("%d %d classic", 10+i, ls[0].pid))
		}
	}
	if got := messages(ls, "readfile"); len(got) != n+len(want) {
		t.Fatalf("%d readfile lines, want %d entries and %d returns: %q", len(got), n, len(want), got)
	}
	var rets []string
	for _, m := range messages(ls, "readfile") {
		if m != "" {
			rets = append(rets, m)
		}
	}
	if !slices.Equal(rets, want) {
		t.Errorf("returns %q, want %q", rets, want)
	}
}

// TestColumns checks -t, -u, -T and -C: the TIME and CPU columns and the
// header.
func TestColumns(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		flags  []string
		header string
		row    *regexp.Regexp
	}{
		{[]string{"-t"}, "TIME     PID     TID     COMM            FUNC             -", regexp.MustCompile(`^\d\.\d{6} \d+ +\d+ +classic +readfile +file-\d\.txt$`)},
		{[]string{"-t", "-u"}, "TIME              PID", regexp.MustCompile(`^\d{10}\.\d{6} +\d+ +\d+ +classic +readfile +file-\d\.txt$`)},
		{[]string{"-T", "-C"}, "TIME     CPU PID     TID     COMM", regexp.MustCompile(`^\d\d:\d\d:\d\d \d +\d+ +\d+ +classic +readfile +file-\d\.txt$`)},
	} {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			c := startClassic(t, 3)
			tl := kerneltest.StartTool(t, "trace", append(tt.flags, "-p", itoa(c.pid()), classicPath(t)+`:readfile "%s", arg1`)...)
			tl.WaitStdout("PID", 20*time.Second)
			c.run(t)
			tl.WaitStdout("file-3.txt", 10*time.Second)
			if st := tl.Stop(syscall.SIGTERM); st != 0 {
				t.Fatalf("exit %d: %s", st, tl.Stderr())
			}
			lines := strings.Split(strings.TrimSpace(tl.Stdout()), "\n")
			if !strings.HasPrefix(lines[0], tt.header) {
				t.Errorf("header %q, want %q...", lines[0], tt.header)
			}
			if len(lines) != 4 {
				t.Fatalf("%d lines:\n%s", len(lines), tl.Stdout())
			}
			for _, l := range lines[1:] {
				if !tt.row.MatchString(l) {
					t.Errorf("line %q does not match %s", l, tt.row)
				}
			}
		})
	}
}

// TestMaxEvents checks that -M stops trace by itself, exit 0, after that
// many lines.
func TestMaxEvents(t *testing.T) {
	kerneltest.Root(t)
	c := startClassic(t, 6)
	tl := kerneltest.StartTool(t, "trace", "-M", "4", "-p", itoa(c.pid()), classicPath(t)+`:readfile "%s", arg1`)
	tl.WaitStdout("PID", 20*time.Second)
	c.run(t)
	if st := tl.Wait(10 * time.Second); st != 0 {
		t.Fatalf("exit %d: %s", st, tl.Stderr())
	}
	if got := messages(parseLines(t, tl.Stdout()), "readfile"); !slices.Equal(got, []string{"file-1.txt", "file-2.txt", "file-3.txt", "file-4.txt"}) {
		t.Errorf("got %q", got)
	}
}

// TestFilters checks -n (process name) and -f (message) filters.
func TestFilters(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"-n", "lass"}, []string{"file-1.txt", "file-2.txt", "file-3.txt"}},
		{[]string{"-n", "bash"}, nil},
		{[]string{"-f", "-2."}, []string{"file-2.txt"}},
	} {
		t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
			ls, _ := traceClassic(t, 3, len(tt.want), append(tt.flags, classicPath(t)+`:readfile "%s", arg1`)...)
			if got := messages(ls, "readfile"); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLossAccounted floods a small buffer: every event is either printed or
// counted as lost, through the ring buffer and the perf buffer alike.
func TestLossAccounted(t *testing.T) {
	kerneltest.Root(t)
	const n = 200_000
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"ring", []string{"-b", "1"}},
		{"perf", []string{"-b", "1", "--perf-buffer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "ring" {
				kerneltest.Need(t, loader.RingBuf)
			}
			src := startSpin(t, n, 1)
			tl := kerneltest.StartTool(t, "trace", append(tt.flags, "-p", itoa(src.PID), `t:syscalls:sys_enter_getppid "%d", args->__syscall_nr`)...)
			tl.WaitStdout("PID", 20*time.Second)
			src.Send("go")
			src.Expect("done")
			count := func() (printed, lost int) {
				printed = strings.Count(tl.Stdout(), "\n") - 1
				for _, m := range lostRE.FindAllStringSubmatch(tl.Stderr(), -1) {
					v, _ := strconv.Atoi(m[1])
					lost += v
				}
				return
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if p, l := count(); p+l >= n {
					break
				}
			}
			if st := tl.Stop(syscall.SIGINT); st != 0 {
				t.Fatalf("exit %d: %s", st, tl.Stderr())
			}
			printed, lost := count()
			t.Logf("%d printed, %d lost", printed, lost)
			if printed+lost != n || lost == 0 {
				t.Errorf("%d printed + %d lost = %d, want %d with some lost", printed, lost, printed+lost, n)
			}
		})
	}
}

// TestUsageErrors checks that bad flags and probes exit 2 with one line
// naming the cause.
func TestUsageErrors(t *testing.T) {
	kerneltest.Root(t)
	bin := classicPath(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "at least one probe is required"},
		{[]string{"-p", "1", "-L", "1", "c:malloc"}, "only one of -p and -L"},
		{[]string{"-p", "999999999", "c:malloc"}, "no such process"},
		{[]string{"-b", "3", "c:malloc"}, "-b 3: want a power of two"},
		{[]string{"-M", "-1", "c:malloc"}, "-M -1"},
		{[]string{"-u", "c:malloc"}, "-u prints UNIX timestamps in the -t column"},
		{[]string{"x:c:malloc"}, "probe 'x:c:malloc': column 1: expected the probe kind"},
		{[]string{`c:malloc "%d %d", arg1`}, `column 10: the format has 2 conversions and 1 argument follow it`},
		{[]string{`c:malloc "%q", arg1`}, `unknown conversion "%q"`},
		{[]string{bin + `:nosuch "%d", arg1`}, `no function "nosuch"`},
		{[]string{bin + `:readfile "%d", arg9`}, `unknown name "arg9"`},
		{[]string{`r:` + bin + `:readfile "%d", arg1`}, "arg1 is a parameter: a return probe sees retval only"},
		{[]string{`t:syscalls:sys_enter_write "%d", args->nosuch`}, `unknown field "nosuch"`},
		{[]string{`t:nosuch:event`}, "nosuch"},
		{[]string{`u:` + bin + `:nosuch`}, "nosuch"},
		{[]string{`c:malloc (arg1 > ) "x"`}, "column 18: expected an operand"},
		{[]string{"--backend", "uprobe", "c:malloc"}, `--backend "uprobe": choose fentry or kprobe`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			kerneltest.ExpectFailure(t, 2, tt.want, "trace", tt.args...)
		})
	}
}

// TestVerbose checks that -v prints the programs and the backend.
func TestVerbose(t *testing.T) {
	kerneltest.Root(t)
	tl := kerneltest.StartTool(t, "trace", "-v", "-M", "1", "-p", itoa(os.Getpid()), `t:syscalls:sys_enter_getppid "%d", args->__syscall_nr`)
	tl.WaitStdout("PID", 20*time.Second)
	syscall.Getppid()
	if st := tl.Wait(10 * time.Second); st != 0 {
		t.Fatalf("exit %d: %s", st, tl.Stderr())
	}
	for _, want := range []string{"; backend tracepoint", "p0:\t; tracepoint/syscalls/sys_enter_getppid", "call bpf_get_current_comm#16", "sys_enter_getppid 110"} {
		if !strings.Contains(tl.Stdout(), want) {
			t.Errorf("-v output lacks %q:\n%s", want, tl.Stdout())
		}
	}
	if !strings.Contains(tl.Stderr(), "backend tracepoint, events through the") {
		t.Errorf("stderr %q", tl.Stderr())
	}
}

// TestStacks checks -U and -K stacks: frames symbolized as bcc's
// "symbol+0xoffset [module]", with -a addresses. A uprobe has no kernel
// stack (-14); the user stack starts at the probed function (the test
// program has no frame pointers, so its callers are not checked). The
// kernel stack of a fork goes back to the system call.
func TestStacks(t *testing.T) {
	kerneltest.Root(t)
	bin := classicPath(t)
	_, tl := traceClassic(t, 2, 4, "-U", "-K", "-a", bin+`:readfile "%s", arg1`, `t:sched:sched_process_fork "child %d", args->child_pid`)
	out := tl.Stdout()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\d+ +\d+ +classic +readfile +file-1\.txt\n {8}-14\n {8} +[0-9a-f]+ readfile\+0x0 \[classic\]\n`),
		regexp.MustCompile(`(?m)^\d+ +\d+ +classic +sched_process_fork +child \d+\n( {8}[0-9a-f]{16} \S+\+0x[0-9a-f]+ \[kernel\]\n)*? {8}[0-9a-f]{16} do_syscall_64\+0x[0-9a-f]+ \[kernel\]\n`),
		regexp.MustCompile(`(?m)^ {8} +[0-9a-f]+ (__libc_fork|_Fork|arch_fork)\+0x[0-9a-f]+ \[classic\]$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output does not match %s:\n%s", want, out)
		}
	}
}

// TestKernelSymbol checks %K: the hrtimer a sleep arms runs
// hrtimer_wakeup.
func TestKernelSymbol(t *testing.T) {
	kerneltest.Root(t)
	tl := kerneltest.StartTool(t, "trace", "-M", "1", "-f", "hrtimer_wakeup", `t:timer:hrtimer_start "%K", args->function`)
	tl.WaitStdout("PID", 20*time.Second)
	for range 50 {
		time.Sleep(time.Millisecond)
		if strings.Count(tl.Stdout(), "\n") > 1 {
			break
		}
	}
	if st := tl.Wait(10 * time.Second); st != 0 {
		t.Fatalf("exit %d: %s", st, tl.Stderr())
	}
	if ls := parseLines(t, tl.Stdout()); len(ls) != 1 || ls[0].msg != "hrtimer_wakeup+0x0" {
		t.Errorf("got %+v, want one hrtimer_wakeup+0x0", ls)
	}
}

// TestNoKernelFunctionProbes checks the run-time error where the kernel
// hooks functions with neither kprobes nor fentry: one line, exit 1.
func TestNoKernelFunctionProbes(t *testing.T) {
	kerneltest.Root(t)
	if loader.Have(loader.Kprobes) == nil || loader.Have(loader.Fentry) == nil {
		t.Skip("this kernel has kprobes or fentry")
	}
	kerneltest.ExpectFailure(t, 1, "kernel function probes (p::, r::) need fentry or kprobes", "trace", `do_sys_openat2 "%s", arg2`)
}

// TestSignals checks that SIGTERM and SIGINT detach everything and exit 0.
func TestSignals(t *testing.T) {
	kerneltest.Root(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := startClassic(t, 1)
			tl := kerneltest.StartTool(t, "trace", "-p", itoa(c.pid()), classicPath(t)+`:readfile "%s", arg1`, `u:`+classicPath(t)+`:request`, `t:sched:sched_switch`)
			tl.WaitStdout("PID", 20*time.Second)
			objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
			if err != nil || len(objs.Programs) != 3 {
				t.Fatalf("trace holds %d programs (%v), want 3", len(objs.Programs), err)
			}
			if st := tl.Stop(sig); st != 0 {
				t.Fatalf("exit %d: %s", st, tl.Stderr())
			}
			kerneltest.AssertReleased(t, objs)
		})
	}
}
