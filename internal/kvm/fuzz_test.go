package kvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFormats adds every format file of testdata to the corpus.
func seedFormats(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/kvm_*")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(builtinExitFormat)
	f.Add("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\nprint fmt: \"%d\", REC->a\n")
}

// FuzzParseFormat: any input parses or fails cleanly, and whatever parses
// yields tables and a layout or an error, never a panic.
func FuzzParseFormat(f *testing.F) {
	seedFormats(f)
	f.Fuzz(func(t *testing.T, s string) {
		format, err := ParseFormat(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, fl := range format.Fields {
			if fl.Name == "" || fl.Offset < 0 || fl.Size <= 0 {
				t.Fatalf("bad field %+v", fl)
			}
		}
		if r, err := ExitReasonsFromFormat(format); err == nil {
			for isa := range uint32(4) {
				_ = r.Name(isa, 0x80000000|isa)
			}
		}
		if u, err := UserspaceExitsFromFormat(format); err == nil {
			_ = u.Name(2, 0)
		}
		_, _ = LayoutOf(map[string]*Format{"kvm_exit": format, "kvm_entry": format})
	})
}

// FuzzParsePrintFmt: print fmts parse or fail cleanly; constant
// expressions evaluate or fail cleanly.
func FuzzParsePrintFmt(f *testing.F) {
	seedFormats(f)
	for _, s := range []string{
		`"%d", 1 + 2 * 3`,
		`"%s", (REC->isa == 1) ? __print_symbolic(REC->x & 0xffff, { 0x040 + 1, "a" " b" }) : "", -1, ~0xffff, 1ULL << 63`,
		`"%s", (unsigned long)REC->a->b[3], 'c', '\n', !REC->x || 07 && 0x1f % 0`,
		`"x", ((((((((((1))))))))))`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if i := strings.Index(s, "print fmt: "); i >= 0 {
			s = s[i+len("print fmt: "):]
			if j := strings.IndexByte(s, '\n'); j >= 0 {
				s = s[:j]
			}
		}
		pf, err := ParsePrintFmt(s)
		if err != nil {
			return
		}
		for _, a := range pf.Args {
			_, _ = Eval(a, func(string) (int64, bool) { return 1, true })
		}
		_, _ = ExitReasonsFromFormat(&Format{Name: "kvm_exit", PrintFmt: s})
	})
}
