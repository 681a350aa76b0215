// Package selftest is a smoke test of the vmtest harness itself
// (scripts/vmtest/run.sh): it checks, inside the test VM, what the guest init
// promises the tests. Outside the VM (BPFSCOPE_IN_VM unset) it skips.
package selftest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func inVM(t *testing.T) {
	t.Helper()
	if os.Getenv("BPFSCOPE_IN_VM") != "1" {
		t.Skip("only runs inside the vmtest VM (scripts/vmtest/run.sh)")
	}
}

func TestMounts(t *testing.T) {
	inVM(t)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{} // mount point -> fs type
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(postFields) >= 1 {
			got[fields[4]] = postFields[0]
		}
	}
	for mp, fstype := range map[string]string{
		"/proc":               "proc",
		"/sys":                "sysfs",
		"/dev":                "devtmpfs",
		"/tmp":                "tmpfs",
		"/sys/kernel/tracing": "tracefs",
		"/sys/kernel/debug":   "debugfs",
		"/sys/fs/bpf":         "bpf",
		"/sys/fs/cgroup":      "cgroup2",
	} {
		if got[mp] != fstype {
			t.Errorf("%s: mounted %q, want %q", mp, got[mp], fstype)
		}
	}
	if _, err := os.Stat("/sys/kernel/tracing/available_events"); err != nil {
		t.Error(err)
	}
}

func TestLoopback(t *testing.T) {
	inVM(t)
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen %s: %v", addr, err)
			continue
		}
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, err = c.Write([]byte("ok"))
				c.Close()
			}
			done <- err
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Errorf("dial %s: %v", ln.Addr(), err)
			ln.Close()
			continue
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
			t.Errorf("read from %s: %q, %v", ln.Addr(), buf, err)
		}
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("accept on %s: %v", ln.Addr(), err)
		}
		ln.Close()
	}
}

func TestWorkingDirAndTestdata(t *testing.T) {
	inVM(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(wd, filepath.FromSlash("/scripts/vmtest/selftest")) {
		t.Errorf("working dir %s is not the package dir", wd)
	}
	b, err := os.ReadFile("testdata/hello.txt")
	if err != nil || strings.TrimSpace(string(b)) != "vmtest testdata" {
		t.Errorf("testdata/hello.txt: %q, %v", b, err)
	}
}

func TestEnvironment(t *testing.T) {
	inVM(t)
	if _, ok := os.LookupEnv("BPFSCOPE_TEST_ABSENT"); !ok {
		t.Error("BPFSCOPE_TEST_ABSENT is not set")
	}
	if os.Getenv("BPFSCOPE_VM_KERNEL") == "" {
		t.Error("BPFSCOPE_VM_KERNEL is not set")
	}
	t.Logf("kernel %s, strict=%q, absent=%q", os.Getenv("BPFSCOPE_VM_KERNEL"),
		os.Getenv("BPFSCOPE_TEST_STRICT"), os.Getenv("BPFSCOPE_TEST_ABSENT"))
	if err := os.WriteFile(filepath.Join(t.TempDir(), "f"), []byte("x"), 0o644); err != nil {
		t.Error(err)
	}
}

func TestModulesLoaded(t *testing.T) {
	inVM(t)
	mods := os.Getenv("BPFSCOPE_VM_MODULES")
	if mods == "" {
		t.Skip("no modules configured")
	}
	for _, m := range strings.Split(mods, ",") {
		if _, err := os.Stat("/sys/module/" + strings.ReplaceAll(m, "-", "_")); err != nil {
			t.Errorf("module %s: %v", m, err)
		}
	}
}

// TestReexec checks that the test binary can run itself as a child process,
// as tests that need a traced child do.
func TestReexec(t *testing.T) {
	inVM(t)
	if os.Getenv("VMTEST_SELFTEST_CHILD") == "1" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReexec$")
	cmd.Env = append(os.Environ(), "VMTEST_SELFTEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Errorf("re-exec of %s: %v\n%s", os.Args[0], err, out)
	}
}
