package uprobe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

const maps = `55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234                       /usr/bin/cat
55d0c0a02000-55d0c0a07000 r-xp 00002000 fd:01 1234                       /usr/bin/cat
7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [heap]
7f1000000000-7f1000002000 r-xp 00001000 08:10 99                         /tmp/with space/lib.so (deleted)
7f2000000000-7f2000001000 rw-p 00000000 00:00 0 
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                          [vdso]
`

func TestParseMappings(t *testing.T) {
	ms, err := parseMappings(strings.NewReader(maps))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{Start: 0x55d0c0a00000, End: 0x55d0c0a02000, Perms: "r--p", Major: 0xfd, Minor: 1, Inode: 1234, Path: "/usr/bin/cat"},
		{Start: 0x55d0c0a02000, End: 0x55d0c0a07000, Perms: "r-xp", Offset: 0x2000, Major: 0xfd, Minor: 1, Inode: 1234, Path: "/usr/bin/cat"},
		{Start: 0x7f0000000000, End: 0x7f0000001000, Perms: "rw-p", Path: "[heap]"},
		{Start: 0x7f1000000000, End: 0x7f1000002000, Perms: "r-xp", Offset: 0x1000, Major: 8, Minor: 0x10, Inode: 99, Path: "/tmp/with space/lib.so", Deleted: true},
		{Start: 0x7f2000000000, End: 0x7f2000001000, Perms: "rw-p"},
		{Start: 0x7ffd00000000, End: 0x7ffd00001000, Perms: "r-xp", Path: "[vdso]"},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d mappings, want %d", len(ms), len(want))
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, ms[i], want[i])
		}
	}
	tg := Target{Path: "/usr/bin/cat", HostPath: "/nonexistent"}
	if a, err := RuntimeAddress(ms, tg, 0x2345); err != nil || a != 0x55d0c0a02345 {
		t.Errorf("RuntimeAddress = %#x, %v", a, err)
	}
	if _, err := RuntimeAddress(ms, tg, 0x9000); err == nil {
		t.Error("RuntimeAddress past the mapping: no error")
	}
	for _, bad := range []string{"x", "1-0 r--p 0 0:0 0", "zz-1 r--p 0 0:0 0", "0-1 r--p 0 00 0", "0-1 r--p q 0:0 0", "0-1 r--p 0 0:0"} {
		if _, err := parseMappings(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMappings(%q): no error", bad)
		}
	}
}

func FuzzParseMappings(f *testing.F) {
	f.Add(maps)
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseMappings(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.End < m.Start {
				t.Fatalf("%+v", m)
			}
		}
	})
}

func open(t testing.TB, name string) *File {
	t.Helper()
	f, err := OpenELF("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLookupFunction(t *testing.T) {
	for _, tt := range []struct {
		bin, sym string
		typ      elf.Type
		dynamic  bool
	}{
		{"calls-static", "calls_double", elf.ET_EXEC, false},
		{"calls-static", "getppid", elf.ET_EXEC, false}, // glibc's, a weak symbol in .symtab
		{"calls-nopie", "calls_double", elf.ET_EXEC, false},
		{"calls", "calls_double", elf.ET_DYN, false},
		{"calls", "main", elf.ET_DYN, false},
	} {
		f := open(t, tt.bin)
		if f.Type != tt.typ {
			t.Errorf("%s: type %v, want %v", tt.bin, f.Type, tt.typ)
		}
		s, err := f.LookupFunction(tt.sym)
		if err != nil {
			t.Errorf("%s %s: %v", tt.bin, tt.sym, err)
			continue
		}
		// The file offset holds the function's first bytes.
		var seg *elf.Prog
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Vaddr <= s.Value && s.Value < p.Vaddr+p.Filesz {
				seg = p
			}
		}
		if seg == nil || s.Offset != s.Value-seg.Vaddr+seg.Off || s.Size == 0 || s.IFunc || s.Dynamic != tt.dynamic {
			t.Errorf("%s %s = %+v", tt.bin, tt.sym, s)
		}
	}
	f := open(t, "calls")
	if _, err := f.LookupFunction("getppid"); !errors.Is(err, ErrSymbolNotFound) || !strings.Contains(err.Error(), "imported") {
		t.Errorf("imported getppid: %v", err)
	}
	if _, err := f.LookupFunction("no_such_function"); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("missing symbol: %v", err)
	}
	if _, err := open(t, "calls-static").LookupFunction("_IO_2_1_stdout_"); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("data symbol: %v", err)
	}
}

// TestVersionedSymbols looks up glibc's versioned symbols, where glibc is.
func TestVersionedSymbols(t *testing.T) {
	tg, err := FindTarget("c", 0)
	if err != nil {
		t.Skipf("no libc here: %v", err)
	}
	f, err := tg.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	look := func(name string) Symbol {
		t.Helper()
		s, err := f.LookupFunction(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	plain, versioned := look("getppid"), look("getppid@@GLIBC_2.2.5")
	if plain != versioned || plain.Name != "getppid@@GLIBC_2.2.5" || !plain.Dynamic {
		t.Errorf("getppid %+v, getppid@@GLIBC_2.2.5 %+v", plain, versioned)
	}
	if look("getppid@GLIBC_2.2.5") != plain {
		t.Error("getppid@GLIBC_2.2.5 differs from the default version")
	}
	// memcpy: the default version GLIBC_2.14 and the old GLIBC_2.2.5
	// (memmove semantics) are different functions, both IFUNCs.
	cur, old := look("memcpy@@GLIBC_2.14"), look("memcpy@GLIBC_2.2.5")
	if look("memcpy") != cur || cur.Value == old.Value || !cur.IFunc || old.Name != "memcpy@GLIBC_2.2.5" {
		t.Errorf("memcpy %+v, memcpy@GLIBC_2.2.5 %+v", cur, old)
	}
	if _, err := f.LookupFunction("memcpy@@GLIBC_2.2.5"); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("memcpy@@GLIBC_2.2.5 (not the default): %v", err)
	}
	if _, err := f.LookupFunction("getppid@@GLIBC_9.9"); !errors.Is(err, ErrSymbolNotFound) {
		t.Errorf("unknown version: %v", err)
	}
	t.Logf("%s: getppid at offset %#x, memcpy@@GLIBC_2.14 %#x (IFUNC), memcpy@GLIBC_2.2.5 %#x", tg.Path, plain.Offset, cur.Offset, old.Offset)
}

// hostileELF makes broken variants of an ELF file.
func hostileELF(t testing.TB, data []byte) map[string][]byte {
	le := binary.LittleEndian
	mod := func(fn func(b []byte)) []byte {
		b := append([]byte(nil), data...)
		fn(b)
		return b
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	shoff := le.Uint64(data[0x28:])
	out := map[string][]byte{
		"shnum 65535":       mod(func(b []byte) { le.PutUint16(b[0x3c:], 0xffff) }),
		"shnum 0 extended":  mod(func(b []byte) { le.PutUint16(b[0x3c:], 0); le.PutUint64(b[shoff+32:], 1<<31) }),
		"phnum 0xffff":      mod(func(b []byte) { le.PutUint16(b[0x38:], 0xffff); le.PutUint32(b[shoff+44:], 1<<30) }),
		"shoff past":        mod(func(b []byte) { le.PutUint64(b[0x28:], 1<<62) }),
		"phentsize 0":       mod(func(b []byte) { le.PutUint16(b[0x36:], 0) }),
		"class 9":           mod(func(b []byte) { b[elf.EI_CLASS] = 9 }),
		"data 9":            mod(func(b []byte) { b[elf.EI_DATA] = 9 }),
		"shstrndx huge":     mod(func(b []byte) { le.PutUint16(b[0x3e:], 0xfffe) }),
		"no magic":          mod(func(b []byte) { b[1] = 'X' }),
		"only the magic":    data[:4],
		"half the header":   data[:32],
		"just the header":   data[:64],
		"cut in the middle": data[:len(data)/2],
	}
	for i, s := range f.Sections {
		hdr := shoff + uint64(i)*64
		switch s.Type {
		case elf.SHT_SYMTAB, elf.SHT_DYNSYM, elf.SHT_STRTAB, elf.SHT_GNU_VERSYM:
			out[s.Name+" size 2^40"] = mod(func(b []byte) { le.PutUint64(b[hdr+32:], 1<<40) })
			out[s.Name+" link 9999"] = mod(func(b []byte) { le.PutUint32(b[hdr+40:], 9999) })
			out[s.Name+" entsize 0"] = mod(func(b []byte) { le.PutUint64(b[hdr+56:], 0) })
			out[s.Name+" compressed"] = mod(func(b []byte) { le.PutUint64(b[hdr+8:], uint64(elf.SHF_COMPRESSED)) })
		}
	}
	return out
}

func TestHostileELF(t *testing.T) {
	for _, bin := range []string{"calls", "calls-static"} {
		data, err := os.ReadFile("testdata/" + bin)
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range hostileELF(t, data) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := NewELF(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				_, err = f.LookupFunction("calls_double")
				_, _ = f.Functions()
				deps, _, _, derr := dynamicDeps(f)
				t.Logf("%s %s: opened; calls_double: %v; deps %v %v", bin, name, err, deps, derr)
			} else if !errors.Is(err, ErrBadELF) {
				t.Errorf("%s %s: %v does not wrap ErrBadELF", bin, name, err)
			}
			runtime.ReadMemStats(&after)
			// Symbols cost a few times the file's size, never what
			// the headers claim.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(data))+1<<20 {
				t.Errorf("%s %s: %d bytes allocated for a %d-byte file", bin, name, alloc, len(b))
			}
		}
	}
}

func FuzzELF(f *testing.F) {
	data, err := os.ReadFile("testdata/calls")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := NewELF(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		ef.LookupFunction("calls_double")
		ef.LookupFunction("memcpy@@GLIBC_2.14")
		ef.LookupData("stdout")
		ef.FileOffset(0x1000, true)
		dynamicDeps(ef)
	})
}
