package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

func testTarget(t testing.TB, name string) uprobe.Target {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return uprobe.Target{Path: p, HostPath: p}
}

// The call sites of the committed test programs, as readelf -n shows them.
var wantSites = map[string][]struct{ name, args string }{
	"sdtprobe-O0": {
		{"args", "-4@-20(%rbp) -8@-8(%rbp) 1@-9(%rbp) -2@-12(%rbp) -4@$5 -8@%rax"},
		{"index", "-8@%rax -8@-16(%rbp)"},
		{"twice", "-4@-4(%rbp)"},
		{"twice", "-4@%eax"},
		{"regs", "1@%ah -1@%al 2@%ax -4@%eax 8@(%rbx,%rdx,8) -4@$-5 -8@8(%rbx) -8@-8(%rbx,%rdx,8) 1@%dl -2@%r9w 8@sdt_table+24(%rip)"},
		{"str", "8@-16(%rbp) 8@$23"},
		{"sema", "-4@-4(%rbp) -8@%rax"},
	},
	"sdtprobe-O2": {
		{"args", "-4@%edi -8@%rax 1@%dl -2@%cx -4@$5 -8@sdt_counter(%rip)"},
		{"index", "-8@(%rdi,%rsi,8) -8@%rsi"},
		{"twice", "-4@%edi"},
		{"twice", "-4@%edi"},
		{"regs", "1@%ah -1@%al 2@%ax -4@%eax 8@(%rbx,%rdx,8) -4@$-5 -8@8(%rbx) -8@-8(%rbx,%rdx,8) 1@%dl -2@%r9w 8@sdt_table+24(%rip)"},
		{"str", "8@%rbp 8@$23"},
		{"sema", "-4@%edi -8@%rax"},
	},
	"libsdtlib.so": {{"sema", "-4@%edi -8@%rax"}},
	"sdtdyn":       {{"main", "-4@12(%rsp)"}},
}

func TestReadProbes(t *testing.T) {
	for bin, want := range wantSites {
		tg := testTarget(t, bin)
		got, err := ReadProbes(tg)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d call sites, want %d", bin, len(got), len(want))
		}
		f, err := tg.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for i, p := range got {
			if p.Name != want[i].name || p.ArgString != want[i].args || p.Err != nil {
				t.Errorf("%s site %d: %s %q err %v; want %s %q", bin, i, p.FullName(), p.ArgString, p.Err, want[i].name, want[i].args)
			}
			if p.Shared != (f.Type == elf.ET_DYN) {
				t.Errorf("%s: Shared %v for %v", bin, p.Shared, f.Type)
			}
			off, err := f.FileOffset(p.Location, true)
			if err != nil || off != p.Offset || off == 0 {
				t.Errorf("%s %s: offset %#x, want %#x (%v)", bin, p.FullName(), p.Offset, off, err)
			}
			if (p.Semaphore != 0) != (p.Name == "sema") || (p.Semaphore != 0) != (p.SemaphoreOffset != 0) {
				t.Errorf("%s %s: semaphore %#x at offset %#x", bin, p.FullName(), p.Semaphore, p.SemaphoreOffset)
			}
			for _, a := range p.Args {
				if a.Symbol == "" {
					continue
				}
				addr, err := f.LookupData(a.Symbol)
				if err != nil || addr == 0 || addr != a.Address {
					t.Errorf("%s: %s at %#x, want %#x (%v)", bin, a.Symbol, a.Address, addr, err)
				}
			}
		}
	}
}

// TestPrelinkBase checks the .stapsdt.base adjustment: a binary moved by
// prelink has its notes' addresses shifted by as much as .stapsdt.base.
func TestPrelinkBase(t *testing.T) {
	tg := testTarget(t, "sdtprobe-O0")
	f, err := tg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := f.Section(stapsdtBase)
	if base == nil {
		t.Fatal("no .stapsdt.base")
	}
	n := Note{Provider: "p", Name: "n", Location: 0x401715 - 0x10, Base: base.Addr - 0x10, Semaphore: 0x4c4b38 - 0x10, Args: "8@%rax"}
	p := site(f, tg, n, base.Addr)
	if p.Err != nil || p.Location != 0x401715 || p.Semaphore != 0x4c4b38 {
		t.Errorf("moved site: %+v", p)
	}
	n.Base = 0 // no base in the note: no adjustment
	if p := site(f, tg, n, base.Addr); p.Location != 0x401715-0x10 {
		t.Errorf("site without base: %#x", p.Location)
	}
}

// TestSystemProbes reads the USDT probes of the shared libraries of this
// system (libstdc++, libpython, and glibc where built with them): every
// argument of every call site must parse and map.
func TestSystemProbes(t *testing.T) {
	var files, sites int
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "lib*.so*"))
		for _, m := range matches {
			if st, err := os.Lstat(m); err != nil || !st.Mode().IsRegular() {
				continue
			}
			ps, err := ReadProbes(uprobe.Target{Path: m, HostPath: m})
			if err != nil {
				if errors.Is(err, uprobe.ErrBadELF) {
					continue // linker scripts
				}
				t.Errorf("%s: %v", m, err)
				continue
			}
			if len(ps) > 0 {
				files++
			}
			for _, p := range ps {
				sites++
				if p.Err != nil {
					t.Errorf("%s %s %q: %v", m, p.FullName(), p.ArgString, p.Err)
				}
			}
		}
	}
	t.Logf("%d call sites in %d libraries", sites, files)
}

// TestGlibcProbes checks glibc's own probes where glibc has them (Fedora,
// Ubuntu; Debian 12 builds glibc without them).
func TestGlibcProbes(t *testing.T) {
	tg, err := uprobe.FindTarget("c", 0)
	if err != nil {
		t.Skipf("no libc here: %v", err)
	}
	ps, err := ReadProbes(tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Skipf("%s has no USDT probes (glibc built without --enable-systemtap)", tg.Path)
	}
	names := map[string]int{}
	for _, p := range ps {
		names[p.FullName()]++
		if p.Err != nil {
			t.Errorf("%s %q: %v", p.FullName(), p.ArgString, p.Err)
		}
	}
	for _, n := range []string{"libc:setjmp", "libc:longjmp", "libc:memory_mallopt"} {
		if names[n] == 0 {
			t.Errorf("%s: no %s (have %v)", tg.Path, n, names)
		}
	}
}

// TestLibstdcxxProbes checks a real library's probes we did not write.
func TestLibstdcxxProbes(t *testing.T) {
	tg, err := uprobe.FindTarget("stdc++", 0)
	if err != nil {
		t.Skipf("no libstdc++ here: %v", err)
	}
	ps, err := ReadProbes(tg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range ps {
		got[p.FullName()] = true
		if p.Err != nil || len(p.Args) != 2 {
			t.Errorf("%s %q: %d args, %v", p.FullName(), p.ArgString, len(p.Args), p.Err)
		}
	}
	for _, n := range []string{"libstdcxx:throw", "libstdcxx:catch", "libstdcxx:rethrow"} {
		if !got[n] {
			t.Errorf("%s: no %s", tg.Path, n)
		}
	}
}

// hostile makes broken variants of an ELF file: truncated, and with absurd
// counts and sizes in its headers.
func hostile(t testing.TB, data []byte) map[string][]byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	shoff := le.Uint64(data[0x28:])
	mod := func(fn func(b []byte)) []byte {
		b := append([]byte(nil), data...)
		fn(b)
		return b
	}
	out := map[string][]byte{
		"shnum 65535":   mod(func(b []byte) { le.PutUint16(b[0x3c:], 0xffff) }),
		"phnum 65534":   mod(func(b []byte) { le.PutUint16(b[0x38:], 0xfffe) }),
		"shoff past":    mod(func(b []byte) { le.PutUint64(b[0x28:], 1<<62) }),
		"phoff past":    mod(func(b []byte) { le.PutUint64(b[0x20:], uint64(len(b)-8)) }),
		"shentsize 1":   mod(func(b []byte) { le.PutUint16(b[0x3a:], 1) }),
		"shstrndx past": mod(func(b []byte) { le.PutUint16(b[0x3e:], 0xfff0) }),
	}
	for i, s := range f.Sections {
		hdr := shoff + uint64(i)*64
		switch s.Name {
		case ".note.stapsdt":
			out["note size 2^40"] = mod(func(b []byte) { le.PutUint64(b[hdr+32:], 1<<40) })
			out["note offset past"] = mod(func(b []byte) { le.PutUint64(b[hdr+24:], uint64(len(b))) })
			out["note descsz 2^32-1"] = mod(func(b []byte) { le.PutUint32(b[s.Offset+4:], 0xffffffff) })
			out["note compressed"] = mod(func(b []byte) { le.PutUint64(b[hdr+8:], uint64(elf.SHF_COMPRESSED)) })
		case ".symtab":
			out["symtab size 2^40"] = mod(func(b []byte) { le.PutUint64(b[hdr+32:], 1<<40) })
			out["symtab compressed"] = mod(func(b []byte) { le.PutUint64(b[hdr+8:], uint64(elf.SHF_COMPRESSED)) })
		case ".shstrtab":
			out["shstrtab compressed"] = mod(func(b []byte) { le.PutUint64(b[hdr+8:], uint64(elf.SHF_COMPRESSED)) })
		}
	}
	for _, n := range []int{0, 4, 16, 63, 64, 200, len(data) / 3, len(data) / 2, len(data) - 100, len(data) - 1} {
		out["truncated at "+strconv.Itoa(n)] = data[:n]
	}
	return out
}

// TestHostileELF checks that broken files give errors (or, where the
// damage is elsewhere, the probes), never a panic.
func TestHostileELF(t *testing.T) {
	for _, bin := range []string{"libsdtlib.so", "sdtprobe-O2"} {
		data, err := os.ReadFile(filepath.Join("testdata", bin))
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range hostile(t, data) {
			f, err := uprobe.NewELF(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				if !errors.Is(err, uprobe.ErrBadELF) {
					t.Errorf("%s %s: error %v does not wrap ErrBadELF", bin, name, err)
				}
				continue
			}
			ps, err := probesOf(f, uprobe.Target{Path: bin})
			_, ferr := f.LookupFunction("main")
			t.Logf("%s %s: %d probes, %v; main: %v", bin, name, len(ps), err, ferr)
			if strings.HasPrefix(name, "note ") && err == nil {
				t.Errorf("%s %s: no error", bin, name)
			}
		}
	}
}

func FuzzReadProbes(f *testing.F) {
	for _, bin := range []string{"libsdtlib.so", "sdtdyn"} {
		data, err := os.ReadFile(filepath.Join("testdata", bin))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := uprobe.NewELF(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		ps, err := probesOf(ef, uprobe.Target{Path: "fuzz"})
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Err == nil {
				encodeSpec(p, 0)
			}
		}
	})
}
