package usdt_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/bpf/usdttest"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// pythonScript runs gc.collect(1) n times for "gc n" and imports the
// modules mod0..mod(n-1) of its directory for "import n". Automatic
// collections are off, so that only those run.
const pythonScript = `import gc, os, sys
gc.disable()
sys.path.insert(0, os.path.dirname(__file__))
print("ready", flush=True)
for line in sys.stdin:
    cmd, n = line.split()
    for i in range(int(n)):
        if cmd == "gc":
            gc.collect(1)
        else:
            __import__("mod%d" % i)
    print("done", flush=True)
`

// TestPython traces a binary we did not build: Debian's python3.11, whose
// probes are guarded by semaphores, so Python fires them only while we are
// attached. python:gc__start(generation) and
// python:import__find__load__start(module name) are checked exactly.
func TestPython(t *testing.T) {
	kerneltest.Root(t)
	const python = "/usr/bin/python3.11"
	if _, err := os.Stat(python); errors.Is(err, os.ErrNotExist) {
		t.Skipf("no %s here", python)
	}
	const n = 7
	dir := t.TempDir()
	script := filepath.Join(dir, "p.py")
	if err := os.WriteFile(script, []byte(pythonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mod%d.py", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(python, script)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	lines := bufio.NewReader(out)
	expect := func(want string) {
		t.Helper()
		done := make(chan string, 1)
		go func() { l, _ := lines.ReadString('\n'); done <- l }()
		select {
		case l := <-done:
			if l != want+"\n" {
				t.Fatalf("python said %q, want %q", l, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("python did not answer")
		}
	}
	expect("ready")
	pid := cmd.Process.Pid
	c := &child{t: t, pid: pid}

	gcSites := find(t, "", "python", "gc__start", pid)
	importSites := find(t, "", "python", "import__find__load__start", pid)
	for _, s := range append(gcSites, importSites...) {
		if s.SemaphoreOffset == 0 {
			t.Fatalf("%s has no semaphore", s.FullName())
		}
		if v := c.semaphore(s); v != 0 {
			t.Fatalf("%s: semaphore %d before attach", s.FullName(), v)
		}
	}
	obj := load(t, sleepable, pid, false)
	if err := usdt.Attach(obj, obj.Program("handle"), gcSites, usdt.AttachOptions{PID: pid, Cookie: 1}); err != nil {
		t.Fatal(err)
	}
	if err := usdt.Attach(obj, obj.Program("handle"), importSites, usdt.AttachOptions{PID: pid, Cookie: usdttest.CookieStr | 2}); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(gcSites, importSites...) {
		if v := c.semaphore(s); v != 1 {
			t.Errorf("%s: semaphore %d while attached, want 1", s.FullName(), v)
		}
	}
	fmt.Fprintln(in, "gc", n)
	expect("done")
	fmt.Fprintln(in, "import", n)
	expect("done")
	var gcs, imports []string
	for _, h := range hits(t, obj) {
		switch {
		case h.Cookie == 1 && h.ArgCnt == 1 && h.Err == 0:
			gcs = append(gcs, fmt.Sprint(h.Args[0]))
		case h.Cookie == usdttest.CookieStr|2 && h.ArgCnt == 1 && h.Err == 0:
			imports = append(imports, cstr(h.Str[:]))
		default:
			t.Errorf("hit %+v", h)
		}
	}
	var wantGC, wantImports []string
	for i := range n {
		wantGC = append(wantGC, "1")
		wantImports = append(wantImports, fmt.Sprintf("mod%d", i))
	}
	if !slices.Equal(gcs, wantGC) || !slices.Equal(imports, wantImports) {
		t.Errorf("gc__start generations %q, want %q; imports %q, want %q", gcs, wantGC, imports, wantImports)
	}
	obj.Close()
	for _, s := range append(gcSites, importSites...) {
		if v := c.semaphore(s); v != 0 {
			t.Errorf("%s: semaphore %d after detach, want 0", s.FullName(), v)
		}
	}
	t.Logf("%s: gc__start %q, import__find__load__start %q; semaphores 0, 1, 0", python, gcs, imports)
}

// TestLibstdcxx traces libstdc++'s own libstdcxx:throw(object, typeinfo)
// probe in a C++ program that throws n ints: found through DT_NEEDED
// without -p and through the process's mappings with it.
func TestLibstdcxx(t *testing.T) {
	kerneltest.Need(t, loader.Cookies)
	needDynamicLinker(t)
	if _, err := usdt.Find("testdata/throw", 0, "libstdcxx", "throw"); err != nil {
		t.Skipf("no libstdc++ with USDT probes here: %v", err)
	}
	for _, withPID := range []bool{false, true} {
		t.Run(fmt.Sprintf("pid=%v", withPID), func(t *testing.T) {
			c := startChild(t, "throw")
			pid, target := 0, "testdata/throw"
			if withPID {
				pid, target = c.pid, ""
			}
			sites, err := usdt.Find(target, pid, "libstdcxx", "throw")
			if err != nil {
				t.Fatal(err)
			}
			obj := load(t, plain, c.pid, false)
			if err := usdt.Attach(obj, obj.Program("handle"), sites, usdt.AttachOptions{PID: pid}); err != nil {
				t.Fatal(err)
			}
			// "throw 3" answers with the typeinfo's address and each
			// exception object's address and value.
			ans := strings.Fields(c.do("throw 3"))
			if len(ans) != 2+2*3 || ans[0] != "typeinfo" {
				t.Fatalf("answer %q", ans)
			}
			var typeinfo uint64
			fmt.Sscanf(ans[1], "0x%x", &typeinfo)
			hs := hits(t, obj)
			if len(hs) != 3 {
				t.Fatalf("%d hits, want 3", len(hs))
			}
			for i, h := range hs {
				var obj uint64
				fmt.Sscanf(ans[3+2*i], "0x%x", &obj)
				if uint64(h.Args[0]) != obj || uint64(h.Args[1]) != typeinfo || h.ArgCnt != 2 {
					t.Errorf("hit %d: args %#x, want object %#x, typeinfo %#x", i, h.Args[:2], obj, typeinfo)
				}
			}
			t.Logf("%s: 3 throws, object and typeinfo addresses exact", sites[0].Target.Path)
		})
	}
}
