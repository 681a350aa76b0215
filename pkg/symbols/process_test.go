package symbols

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

//go:noinline
func resolveTarget(i int) int { return i*3 + 1 }

// TestProcessSelf resolves a Go function of the test binary (non-PIE,
// .symtab) in this process.
func TestProcessSelf(t *testing.T) {
	p, err := Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pc := uint64(reflect.ValueOf(resolveTarget).Pointer())
	want := runtime.FuncForPC(uintptr(pc)).Name()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []uint64{0, 1, 7} {
		sym, ok := p.Resolve(pc + off)
		if !ok || sym.Name != want || sym.Offset != off || sym.Module != exe {
			t.Errorf("Resolve(%s+%d) = %+v, %v; want %s+%#x in %s", want, off, sym, ok, want, off, exe)
		}
	}
	sym, _ := p.Resolve(pc + 1)
	if got, want := Format(sym, true, true), want+"+0x1 ["+filepath.Base(exe)+"]"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { p.Resolve(pc + 1) }); n != 0 {
		t.Errorf("Resolve allocates %v times", n)
	}
	// The heap is in no module.
	heap := uint64(reflect.ValueOf(new([64]byte)).Pointer())
	if sym, ok := p.Resolve(heap); ok || sym.Module != "" || Format(sym, true, true) != "[unknown]" {
		t.Errorf("Resolve(heap address) = %+v, %v; want nothing", sym, ok)
	}
}

// startChild runs cmd, waits until it has mapped its program (Start can
// return before the kernel has mapped the new program) and kills it when
// the test ends.
func startChild(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitMapped(t, cmd.Process.Pid, filepath.Base(cmd.Path))
	return cmd.Process.Pid
}

// roundTrip finds function fn in the file a child process has mapped
// (host path hostPath, path mapped as module), turns its address+off into
// the child's runtime address and checks that Resolve gives it back.
func roundTrip(t *testing.T, p *ProcessTable, target uprobe.Target, fn string, off uint64) Symbol {
	t.Helper()
	f, err := uprobe.OpenELF(target.HostPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := f.LookupFunction(fn)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := uprobe.ReadMappings(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := uprobe.RuntimeAddress(ms, target, want.Offset+off)
	if err != nil {
		maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", p.PID()))
		t.Fatalf("%v; maps:\n%s", err, maps)
	}
	sym, ok := p.Resolve(addr)
	if !ok || sym.Offset != off {
		t.Fatalf("Resolve(%s+%#x = %#x) = %+v, %v", fn, off, addr, sym, ok)
	}
	// Another name for the same address will do (aliases).
	static, dynamic, err := f.FunctionSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range slices.Concat(static, dynamic) {
		if s.Value == want.Value {
			names = append(names, s.Name)
		}
	}
	if !slices.Contains(names, sym.Name) {
		t.Errorf("Resolve(%s+%#x) = %q, want one of %q", fn, off, sym.Name, names)
	}
	return sym
}

// TestProcessStatic resolves a function of a child running a static PIE
// (ET_DYN) and a static non-PIE (ET_EXEC) program.
func TestProcessStatic(t *testing.T) {
	for _, bin := range []string{"spin-pie", "spin-nopie"} {
		t.Run(bin, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join("testdata", bin))
			if err != nil {
				t.Fatal(err)
			}
			pid := startChild(t, exec.Command(path))
			p, err := Process(pid)
			if err != nil {
				t.Fatal(err)
			}
			sym := roundTrip(t, p, uprobe.Target{Path: path, HostPath: path, PID: pid}, "spin_wait", 3)
			if got, want := Format(sym, true, true), "spin_wait+0x3 ["+bin+"]"; got != want {
				t.Errorf("Format = %q, want %q", got, want)
			}
		})
	}
}

// waitMapped waits until process pid has mapped a file whose name contains
// name.
func waitMapped(t *testing.T, pid int, name string) uprobe.Target {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ts, err := uprobe.Modules(pid)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range ts {
			if strings.Contains(filepath.Base(tg.Path), name) {
				return tg
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d has not mapped %s", pid, name)
	return uprobe.Target{}
}

// TestProcessLibc resolves clock_nanosleep in the libc of a child running
// sleep (a PIE executable linked to a shared library), and an address in
// the stripped executable (module only).
func TestProcessLibc(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep here: %v", err)
	}
	if _, err := os.Stat("/lib64/ld-linux-x86-64.so.2"); err != nil {
		t.Skip("no dynamic linker here (/lib64/ld-linux-x86-64.so.2): dynamically linked programs cannot run")
	}
	pid := startChild(t, exec.Command(sleep, "30"))
	libc := waitMapped(t, pid, "libc")
	exe := waitMapped(t, pid, "sleep")
	p, err := Process(pid)
	if err != nil {
		t.Fatal(err)
	}
	sym := roundTrip(t, p, libc, "clock_nanosleep", 5)
	if sym.Module != libc.Path {
		t.Errorf("module %q, want %q", sym.Module, libc.Path)
	}
	t.Logf("%s", Format(sym, true, true))

	// The executable's entry point: its module, with or without a name.
	f, err := uprobe.OpenELF(exe.HostPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		t.Logf("%s is not PIE", exe.Path)
	}
	off, err := f.FileOffset(f.Entry, true)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := uprobe.ReadMappings(pid)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := uprobe.RuntimeAddress(ms, exe, off)
	if err != nil {
		t.Fatal(err)
	}
	sym, _ = p.Resolve(addr)
	if sym.Module != exe.Path {
		t.Errorf("Resolve(entry point %#x) = %+v, want module %s", addr, sym, exe.Path)
	}
	t.Logf("entry point: %s", Format(sym, true, true))
}

// TestProcessDeleted resolves in a program whose file was deleted after it
// started: the module is named "NAME (deleted)", and, through
// /proc/PID/map_files, the function is still found.
func TestProcessDeleted(t *testing.T) {
	kerneltest.Root(t) // map_files needs CAP_SYS_ADMIN
	data, err := os.ReadFile("testdata/spin-pie")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spin-deleted")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	pid := startChild(t, exec.Command(path))
	// Started is not yet mapped: wait for the exec.
	waitMapped(t, pid, "spin-deleted")
	target := uprobe.Target{Path: path, HostPath: path, PID: pid}
	f, err := uprobe.OpenELF(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.LookupFunction("spin_wait")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := uprobe.ReadMappings(pid)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := uprobe.RuntimeAddress(ms, target, want.Offset+2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	p, err := Process(pid)
	if err != nil {
		t.Fatal(err)
	}
	sym, ok := p.Resolve(addr)
	if got, want := Format(sym, true, true), "spin_wait+0x2 [spin-deleted (deleted)]"; !ok || got != want {
		t.Errorf("Resolve = %q, %v; want %q", got, ok, want)
	}
}

// TestProcessUnreadable resolves in a mapping of a file that cannot be
// read from here: the module is printed, the symbol unknown.
func TestProcessUnreadable(t *testing.T) {
	s := newSnapshot(1, []uprobe.Mapping{{Start: 0x1000, End: 0x2000, Offset: 0x3000, Perms: "r-xp", Inode: 7, Path: "/no/such/file"}})
	s.maps[0].host = "/no/such/file"
	p := &ProcessTable{pid: 1}
	p.snap.Store(s)
	sym, ok := p.Resolve(0x1234)
	if ok || sym.Module != "/no/such/file" || sym.Offset != 0x3234 || Format(sym, true, true) != "[unknown] [file]" {
		t.Errorf("Resolve = %+v, %v; want [unknown] [file] at file offset 0x3234", sym, ok)
	}
}

// TestProcessVDSO resolves a function of the vDSO of this process.
func TestProcessVDSO(t *testing.T) {
	ms, err := uprobe.ReadMappings(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m uprobe.Mapping) bool { return m.Path == "[vdso]" })
	if i < 0 {
		t.Skip("no vdso")
	}
	m, err := loadVDSO()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.addrs) == 0 {
		t.Fatal("no functions in the vdso")
	}
	p, err := Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The vDSO is linked at 0 and mapped from offset 0.
	addr := ms[i].Start + m.addrs[0] + 1
	sym, ok := p.Resolve(addr)
	if !ok || sym.Module != "[vdso]" || sym.Name != m.funcs[0].name || sym.Offset != 1 {
		t.Errorf("Resolve(%#x) = %+v, %v", addr, sym, ok)
	}
	t.Logf("%s", Format(sym, true, true))
}

// TestProcessExited checks the error for a process that has exited.
func TestProcessExited(t *testing.T) {
	path, err := filepath.Abs("testdata/spin-nopie")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Kill()
	cmd.Wait()
	_, err = Process(pid)
	if !errors.Is(err, ErrNoProcess) {
		t.Errorf("Process(exited) = %v, want ErrNoProcess", err)
	}
}

// BenchmarkProcessResolve resolves Go functions of the test binary; the
// baseline is the search of the mapping alone.
func BenchmarkProcessResolve(b *testing.B) {
	p, err := Process(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	pcs := []uint64{
		uint64(reflect.ValueOf(resolveTarget).Pointer()) + 1,
		uint64(reflect.ValueOf(Format).Pointer()) + 5,
		uint64(reflect.ValueOf(os.Getpid).Pointer()),
		uint64(reflect.ValueOf(slices.Sort[[]int]).Pointer()),
	}
	for _, pc := range pcs {
		if _, ok := p.Resolve(pc); !ok {
			b.Fatalf("%#x not resolved", pc)
		}
	}
	s := p.snap.Load()
	start := time.Now()
	var sink int
	for i := range 1 << 20 {
		j, _ := slices.BinarySearch(s.starts, pcs[i%len(pcs)])
		sink += j
	}
	base := time.Since(start)
	i := 0
	for b.Loop() {
		p.Resolve(pcs[i%len(pcs)])
		i++
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(1<<20), "baseline-search-ns")
	_ = sink
}
