package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

type cpioEntry struct {
	mode         uint32
	rdev         [2]uint32
	data         string
	headerOffset int
}

// readNewc parses a newc archive, checking the 4-byte alignment.
func readNewc(t *testing.T, b []byte) map[string]cpioEntry {
	t.Helper()
	entries := map[string]cpioEntry{}
	field := func(off, i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("header at %d: %v", off, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d", off)
		}
		mode, size, namesize := field(off, 1), int(field(off, 6)), int(field(off, 11))
		name := string(b[off+110 : off+110+namesize-1])
		data := align(off + 110 + namesize)
		if name == "TRAILER!!!" {
			return entries
		}
		entries[name] = cpioEntry{mode: mode, rdev: [2]uint32{field(off, 9), field(off, 10)},
			data: string(b[data : data+size]), headerOffset: off}
		off = align(data + size)
	}
}

func TestArchive(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for name, content := range map[string]string{
		"init":                           "#!init",
		"tests/a.test":                   "binary",
		"src/pkg/a/testdata/x.txt":       "hello",
		"src/pkg/a/testdata/sub/odd.bin": "12345",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("x.txt", filepath.Join(root, "src/pkg/a/testdata/link")); err != nil {
		t.Fatal(err)
	}
	for _, level := range []int{0, gzip.BestSpeed} {
		out := filepath.Join(dir, "out"+strconv.Itoa(level))
		if err := run(out, root, true, level); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if level != 0 {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		e := readNewc(t, b)
		if c := e["dev/console"]; c.mode != modeChr|0o600 || c.rdev != [2]uint32{5, 1} {
			t.Errorf("dev/console: %+v", c)
		}
		if d := e["dev"]; d.mode&modeDir == 0 || d.headerOffset > e["dev/console"].headerOffset {
			t.Errorf("dev: %+v, want a directory before dev/console", d)
		}
		if f := e["init"]; f.data != "#!init" || f.mode != modeReg|0o755 {
			t.Errorf("init: %+v", f)
		}
		if f := e["src/pkg/a/testdata/sub/odd.bin"]; f.data != "12345" {
			t.Errorf("odd.bin: %+v", f)
		}
		if l := e["src/pkg/a/testdata/link"]; l.mode != modeLink|0o777 || l.data != "x.txt" {
			t.Errorf("link: %+v", l)
		}
		if d, f := e["src/pkg/a/testdata"], e["src/pkg/a/testdata/x.txt"]; d.mode&modeDir == 0 || d.headerOffset > f.headerOffset {
			t.Errorf("testdata dir %+v must come before its files", d)
		}
	}
}
