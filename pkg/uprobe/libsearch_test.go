package uprobe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRoot builds a mount namespace's worth of files under a directory:
// libraries (copies of the PIE testdata/calls, a 64-bit ELF ET_DYN), a
// linker script, a non-ELF file and an ld.so.cache.
func fakeRoot(t *testing.T, cache []ldCacheEntry, libs ...string) string {
	t.Helper()
	elf, err := os.ReadFile("testdata/calls")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, l := range libs {
		p := filepath.Join(root, l)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := elf
		if strings.HasSuffix(l, ".script") {
			p = strings.TrimSuffix(p, ".script")
			data = []byte("/* GNU ld script */\nGROUP ( libfoo.so.1 )\n")
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cache != nil {
		os.MkdirAll(filepath.Join(root, "etc"), 0o755)
		if err := os.WriteFile(filepath.Join(root, "etc/ld.so.cache"), buildLDCache(cache, false, false), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLibSearch(t *testing.T) {
	cache := []ldCacheEntry{
		{Name: "libfoo.so.1", Path: "/cache/libfoo.so.1", Flags: 0x0303},
		{Name: "libfoo.so.1", Path: "/cache/hw/libfoo.so.1", Flags: 0x0303, HWCap: 1},
		{Name: "libbar.so.2", Path: "/cache/libbar32.so.2", Flags: 0x0003},
		{Name: "libgone.so.1", Path: "/cache/libgone.so.1", Flags: 0x0303},
	}
	root := fakeRoot(t, cache,
		"cache/libfoo.so.1", "cache/hw/libfoo.so.1", "cache/libbar32.so.2",
		"llp/libqux.so.3", "llp/libqux.so.3.0.1", "llp/libfoo.so.1",
		"usr/lib/x86_64-linux-gnu/libbar.so.script", "usr/lib/x86_64-linux-gnu/libbar.so.2",
		"lib64/libbaz.so", "origin/libo.so.1", "rpath/libr.so.1")
	s := &libSearch{root: root, ldLibraryPath: "/nonexistent:relative:/llp"}
	for _, tt := range []struct {
		name             string
		rpath, runpath   []string
		origin, want     string
		ldLibraryPathOff bool
	}{
		{name: "qux", want: "/llp/libqux.so.3"},                 // LD_LIBRARY_PATH, shortest name
		{name: "libqux.so.3.0.1", want: "/llp/libqux.so.3.0.1"}, // exact
		{name: "foo", want: "/llp/libfoo.so.1"},                 // LD_LIBRARY_PATH before the cache
		{name: "foo", want: "/cache/libfoo.so.1", ldLibraryPathOff: true},
		{name: "libfoo.so.1", want: "/cache/libfoo.so.1", ldLibraryPathOff: true},
		{name: "bar", want: "/usr/lib/x86_64-linux-gnu/libbar.so.2"}, // 32-bit cache entry and linker script passed over
		{name: "baz", want: "/lib64/libbaz.so"},
		{name: "libo.so.1", runpath: []string{"$ORIGIN/../origin"}, origin: "/bin", want: "/origin/libo.so.1"},
		{name: "libr.so.1", rpath: []string{"/rpath"}, want: "/rpath/libr.so.1"},
		// DT_RUNPATH makes the linker ignore DT_RPATH.
		{name: "libr.so.1", rpath: []string{"/rpath"}, runpath: []string{"/none"}},
		{name: "gone"},
		{name: "nosuch"},
	} {
		s.ldLibraryPath = "/nonexistent:relative:/llp"
		if tt.ldLibraryPathOff {
			s.ldLibraryPath = ""
		}
		got, err := s.find(tt.name, tt.rpath, tt.runpath, tt.origin)
		if tt.want == "" {
			if !errors.Is(err, ErrLibraryNotFound) {
				t.Errorf("find(%q) = %q, %v; want ErrLibraryNotFound", tt.name, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("find(%q, rpath %q, runpath %q) = %q, %v; want %q", tt.name, tt.rpath, tt.runpath, got, err, tt.want)
		}
	}
}

// TestFindLibc finds libc as bcc's "c:malloc" does, where there is one.
func TestFindLibc(t *testing.T) {
	if _, err := os.Stat("/etc/ld.so.cache"); err != nil {
		t.Skip("no ld.so.cache here")
	}
	for _, name := range []string{"c", "libc.so.6"} {
		tg, err := FindTarget(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(tg.Path, "/libc.so.6") || tg.HostPath != tg.Path {
			t.Errorf("FindTarget(%q) = %+v", name, tg)
		}
	}
	// An executable in PATH: this test binary, from a PATH made for it
	// (the VM test's guest has no /bin).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/nonexistent:"+filepath.Dir(self))
	tg, err := FindTarget(filepath.Base(self), 0)
	if err != nil || tg.Path != self {
		t.Errorf("FindTarget(%s) = %+v, %v; want %s", filepath.Base(self), tg, err, self)
	}
	if _, err := FindTarget("no-such-library-or-program", 0); !errors.Is(err, ErrTargetNotFound) {
		t.Errorf("FindTarget(nonsense): %v", err)
	}
}

func TestLDLibraryPath(t *testing.T) {
	dir := filepath.Join(fakeRoot(t, nil, "l/libbpfscopetest.so.7"), "l")
	t.Setenv("LD_LIBRARY_PATH", dir)
	tg, err := FindTarget("bpfscopetest", 0)
	if err != nil || tg.Path != filepath.Join(dir, "libbpfscopetest.so.7") {
		t.Errorf("FindTarget = %+v, %v", tg, err)
	}
}

// TestSharedLibraries follows DT_NEEDED from the dynamic test program.
func TestSharedLibraries(t *testing.T) {
	if _, err := os.Stat("/etc/ld.so.cache"); err != nil {
		t.Skip("no ld.so.cache here")
	}
	tg, err := FindTarget("testdata/calls", 0)
	if err != nil {
		t.Fatal(err)
	}
	libs, err := SharedLibraries(tg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range libs {
		names = append(names, filepath.Base(l.Path))
	}
	if len(libs) == 0 || filepath.Base(libs[0].Path) != "libc.so.6" {
		t.Errorf("libraries %v: want libc.so.6 first", names)
	}
	t.Logf("libraries: %v", names)
}

func TestFindTargetErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		pid  int
	}{
		{"", 0},
		{"/nonexistent/binary", 0},
		{"/", 0},
		{"c", -1},
		{"c", 1 << 30},
	} {
		if tg, err := FindTarget(tt.name, tt.pid); err == nil {
			t.Errorf("FindTarget(%q, %d) = %+v, want an error", tt.name, tt.pid, tg)
		}
	}
}
