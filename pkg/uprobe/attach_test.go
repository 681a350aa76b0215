package uprobe_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/bpf/usdttest"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// nsChildEnv makes the test binary a helper that runs testdata/calls-static
// from a tmpfs only its own mount namespace sees (see TestMain).
const nsChildEnv = "BPFSCOPE_UPROBE_TEST_NS_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(nsChildEnv); dir != "" {
		if err := execInNewMountNS(dir); err != nil {
			fmt.Fprintln(os.Stderr, "ns child:", err)
			os.Exit(3)
		}
	}
	os.Exit(m.Run())
}

// execInNewMountNS enters a new mount namespace, mounts a tmpfs on dir
// there, copies calls-static into it and executes it.
func execInNewMountNS(dir string) error {
	runtime.LockOSThread()
	bin, err := os.ReadFile("testdata/calls-static")
	if err != nil {
		return err
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	p := filepath.Join(dir, "calls-hidden")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		return err
	}
	return syscall.Exec(p, []string{p}, os.Environ())
}

// child is testdata/calls (or another program speaking its protocol).
type child struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
	pid int
}

func start(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		timer.Stop()
	})
	c := &child{t: t, in: in, out: bufio.NewScanner(out), pid: cmd.Process.Pid}
	if l := c.line(); l != "ready" {
		t.Fatalf("child said %q", l)
	}
	return c
}

func startCalls(t *testing.T, name string) *child {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, exec.Command(p))
}

func (c *child) line() string {
	c.t.Helper()
	done := make(chan bool, 1)
	go func() { done <- c.out.Scan() }()
	select {
	case ok := <-done:
		if !ok {
			c.t.Fatalf("child %d exited", c.pid)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatalf("child %d did not answer", c.pid)
	}
	return c.out.Text()
}

// call makes the child call getppid and calls_double(i) n times and
// returns the sum of calls_double's results.
func (c *child) call(n int) {
	c.t.Helper()
	fmt.Fprintf(c.in, "call %d\n", n)
	c.line()
}

func load(t *testing.T, tgid int) *loader.Object {
	t.Helper()
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{{Name: "uprobe", Spec: usdttest.LoadUprobe}}},
		loader.Options{Constants: map[string]any{
			"targ_tgid":  uint32(tgid),
			"use_cookie": loader.Have(loader.Cookies) == nil,
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close() })
	return obj
}

func counts(t *testing.T, obj *loader.Object, cookie uint64) usdttest.Calls {
	t.Helper()
	var c usdttest.Calls
	if err := obj.Map("call_counts").Lookup(cookie, &c); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return c
}

// progProbe is a probe and the program of the test object it runs.
type progProbe struct {
	prog string
	uprobe.Probe
}

// attachEach attaches every probe to an object of its own (so that
// kernels without BPF cookies run the test too) and returns the objects.
func attachEach(t *testing.T, tgid int, probes ...progProbe) []*loader.Object {
	t.Helper()
	var objs []*loader.Object
	for _, p := range probes {
		obj := load(t, tgid)
		a, err := uprobe.Attach(obj, obj.Program(p.prog), p.Probe)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s:%s at %s offset %#x", p.prog, p.Target, p.Symbol, a.Target.Path, a.FileOffset)
		objs = append(objs, obj)
	}
	return objs
}

// TestAttach puts a uprobe and a uretprobe on a function of the test
// program and on getppid, in the program itself (static) or in libc.so.6
// (dynamic), and counts calls, arguments and return values exactly.
func TestAttach(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		bin, lib, getppid string
		dynamic           bool
	}{
		{bin: "calls-static", getppid: "getppid"},
		{bin: "calls-nopie", lib: "c", getppid: "getppid", dynamic: true},
		// PIE, libc by its file name, a versioned symbol.
		{bin: "calls", lib: "libc.so.6", getppid: "getppid@@GLIBC_2.2.5", dynamic: true},
	} {
		t.Run(tt.bin, func(t *testing.T) {
			if tt.dynamic {
				needDynamicLinker(t)
			}
			c := startCalls(t, tt.bin)
			before, err := kerneltest.HeldBy(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join("testdata", tt.bin)
			libTarget := target
			if tt.lib != "" {
				libTarget = tt.lib
			}
			objs := attachEach(t, c.pid,
				progProbe{"on_call", uprobe.Probe{Target: target, Symbol: "calls_double"}},
				progProbe{"on_return", uprobe.Probe{Target: target, Symbol: "calls_double", Return: true}},
				progProbe{"on_call", uprobe.Probe{Target: libTarget, Symbol: tt.getppid, PID: c.pid}},
				progProbe{"on_return", uprobe.Probe{Target: libTarget, Symbol: tt.getppid, PID: c.pid, Return: true}},
			)
			held, err := kerneltest.HeldBy(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			c.call(n)
			check := func(what string, obj *loader.Object, want usdttest.Calls) {
				t.Helper()
				if got := counts(t, obj, 0); got != want {
					t.Errorf("%s: %+v, want %+v", what, got, want)
				}
			}
			// calls_double(i) = 2i+1 for i = 0..n-1.
			check("calls_double", objs[0], usdttest.Calls{Count: n, ArgSum: n * (n - 1) / 2})
			check("calls_double return", objs[1], usdttest.Calls{Count: n, RetSum: n * n})
			// getppid takes no argument (whatever is in rdi) and
			// returns our PID, the child's parent.
			if got := counts(t, objs[2], 0); got.Count != n {
				t.Errorf("getppid: %d calls, want %d", got.Count, n)
			}
			check("getppid return", objs[3], usdttest.Calls{Count: n, RetSum: uint64(n * os.Getpid())})
			for _, obj := range objs {
				if err := obj.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if len(held.Programs) < len(before.Programs)+len(objs) || held.Perf < before.Perf+len(objs) {
				t.Errorf("held before %+v, attached %+v", before, held)
			}
			kerneltest.AssertReleased(t, held)
			t.Logf("%d calls of calls_double and getppid counted, arguments and return values exact", n)
		})
	}
}

// TestCookie tells probes apart by their BPF cookie in one object.
func TestCookie(t *testing.T) {
	kerneltest.Need(t, loader.Cookies)
	c := startCalls(t, "calls-static")
	obj := load(t, c.pid)
	target := filepath.Join("testdata", "calls-static")
	for i, sym := range []string{"calls_double", "getppid"} {
		if _, err := uprobe.Attach(obj, obj.Program("on_call"), uprobe.Probe{Target: target, Symbol: sym, Cookie: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	c.call(4)
	if a, b := counts(t, obj, 1), counts(t, obj, 2); a.Count != 4 || a.ArgSum != 6 || b.Count != 4 {
		t.Errorf("cookie 1: %+v, cookie 2: %+v; want 4 calls each, calls_double's arguments summing to 6", a, b)
	}
}

// TestPIDFilter attaches to a binary two processes run, for one of them.
func TestPIDFilter(t *testing.T) {
	kerneltest.Root(t)
	a, b := startCalls(t, "calls-static"), startCalls(t, "calls-static")
	target := filepath.Join("testdata", "calls-static")
	// No filter in BPF (tgid 0): only the uprobe's.
	objs := attachEach(t, 0,
		progProbe{"on_call", uprobe.Probe{Target: target, Symbol: "calls_double", PID: a.pid}},
		progProbe{"on_call", uprobe.Probe{Target: target, Symbol: "calls_double"}},
	)
	a.call(5)
	b.call(7)
	if got := counts(t, objs[0], 0); got.Count != 5 {
		t.Errorf("with -p %d: %d calls, want 5", a.pid, got.Count)
	}
	if got := counts(t, objs[1], 0); got.Count != 12 {
		t.Errorf("without -p: %d calls, want 12", got.Count)
	}
}

// TestMountNamespace traces a binary that exists only in the traced
// process's mount namespace, found through /proc/PID/root.
func TestMountNamespace(t *testing.T) {
	kerneltest.Root(t)
	dir := t.TempDir()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), nsChildEnv+"="+dir)
	c := start(t, cmd)
	hidden := filepath.Join(dir, "calls-hidden")
	if _, err := os.Stat(hidden); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s visible outside the child's namespace: %v", hidden, err)
	}
	if _, err := uprobe.FindTarget(hidden, 0); !errors.Is(err, uprobe.ErrTargetNotFound) {
		t.Errorf("FindTarget without pid: %v", err)
	}
	tg, err := uprobe.FindTarget(hidden, c.pid)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Path != hidden || tg.HostPath != fmt.Sprintf("/proc/%d/root%s", c.pid, hidden) {
		t.Errorf("target %+v", tg)
	}
	exe, err := uprobe.FindTarget("", c.pid)
	if err != nil || exe.Path != hidden {
		t.Errorf("the process's executable: %+v, %v", exe, err)
	}
	objs := attachEach(t, c.pid,
		progProbe{"on_call", uprobe.Probe{Target: hidden, Symbol: "calls_double", PID: c.pid}},
		// The process's own executable: no target, only -p.
		progProbe{"on_call", uprobe.Probe{Symbol: "getppid", PID: c.pid}},
	)
	c.call(6)
	if got := counts(t, objs[0], 0); got.Count != 6 || got.ArgSum != 15 {
		t.Errorf("calls_double: %+v, want 6 calls, sum 15", got)
	}
	if got := counts(t, objs[1], 0); got.Count != 6 {
		t.Errorf("getppid: %+v, want 6 calls", got)
	}
}

// TestLibraryInProcess finds libc among the libraries a process has
// loaded.
func TestLibraryInProcess(t *testing.T) {
	needDynamicLinker(t)
	c := startCalls(t, "calls")
	tg, err := uprobe.FindTarget("c", c.pid)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(tg.Path) != "libc.so.6" || tg.HostPath != fmt.Sprintf("/proc/%d/root%s", c.pid, tg.Path) {
		t.Errorf("target %+v", tg)
	}
	mods, err := uprobe.Modules(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, filepath.Base(m.Path))
	}
	if len(mods) != 3 || names[0] != "calls" {
		t.Errorf("modules %v: want calls, libc.so.6, ld-linux-x86-64.so.2", names)
	}
}

func TestAttachErrors(t *testing.T) {
	kerneltest.Root(t)
	obj := load(t, os.Getpid())
	prog := obj.Program("on_call")
	for _, tt := range []struct {
		p    uprobe.Probe
		want error
	}{
		{uprobe.Probe{Target: "testdata/calls-static", Symbol: "no_such_function"}, uprobe.ErrSymbolNotFound},
		{uprobe.Probe{Target: "testdata/no-such-file", Symbol: "main"}, uprobe.ErrTargetNotFound},
		{uprobe.Probe{Target: "no-such-library", Symbol: "main"}, uprobe.ErrTargetNotFound},
		{uprobe.Probe{Target: "testdata/calls-static", Symbol: "calls_double", Offset: 4096}, nil},
		{uprobe.Probe{Target: "testdata/calls.c", Symbol: "main"}, uprobe.ErrBadELF},
	} {
		_, err := uprobe.Attach(obj, prog, tt.p)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Attach(%+v) = %v, want %v", tt.p, err, tt.want)
		}
	}
	if _, err := uprobe.FindTarget("c", 0); err == nil {
		_, err := uprobe.Attach(obj, prog, uprobe.Probe{Target: "c", Symbol: "memcpy"})
		if !errors.Is(err, uprobe.ErrIFunc) {
			t.Errorf("memcpy: %v, want ErrIFunc", err)
		}
	}
}

func needDynamicLinker(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/lib64/ld-linux-x86-64.so.2"); errors.Is(err, os.ErrNotExist) {
		t.Skip("no dynamic linker here (/lib64/ld-linux-x86-64.so.2): dynamically linked test programs cannot run")
	}
}
