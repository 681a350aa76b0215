package probespec

import (
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	for _, tt := range []struct {
		text    string
		regex   bool
		kind    PatternKind
		lib     string
		name    string
		match   []string
		nomatch []string
	}{
		{text: "vfs_*", kind: PatternFunction, name: "vfs_*", match: []string{"vfs_read", "vfs_"}, nomatch: []string{"xvfs_read", "vfs"}},
		{text: "p::vfs_read", kind: PatternFunction, name: "vfs_read", match: []string{"vfs_read"}, nomatch: []string{"vfs_readv", "vfs_rea"}},
		{text: ":vfs_read", kind: PatternFunction, name: "vfs_read", match: []string{"vfs_read"}},
		{text: "c:str*", kind: PatternFunction, lib: "c", name: "str*", match: []string{"strlen", "str"}, nomatch: []string{"wcslen"}},
		{text: "p:/usr/bin/x:*read*", kind: PatternFunction, lib: "/usr/bin/x", name: "*read*", match: []string{"pread64", "read"}, nomatch: []string{"rea"}},
		{text: "go:os.*", kind: PatternFunction, lib: "go", name: "os.*", match: []string{"os.Open"}, nomatch: []string{"osXOpen"}},
		{text: "t:sched:*", kind: PatternTracepoint, name: "sched:*", match: []string{"sched:sched_switch"}, nomatch: []string{"irq:x", "sched2:x"}},
		{text: "t:sys*:sys_enter_getp*", kind: PatternTracepoint, name: "sys*:sys_enter_getp*", match: []string{"syscalls:sys_enter_getpid"}, nomatch: []string{"syscalls:sys_exit_getpid"}},
		{text: "u:node:gc*", kind: PatternUSDT, lib: "node", name: "gc*", match: []string{"gc__start"}, nomatch: []string{"http"}},
		{text: "vfs_(read|write)$", regex: true, kind: PatternFunction, name: "vfs_(read|write)$", match: []string{"vfs_read", "vfs_write"}, nomatch: []string{"vfs_readv", "xvfs_read"}},
		{text: "^vfs.*", regex: true, kind: PatternFunction, name: "^vfs.*", match: []string{"vfs_read"}, nomatch: []string{"avfs"}},
		{text: "t:sched:sched_.*wak", regex: true, kind: PatternTracepoint, name: "sched:sched_.*wak", match: []string{"sched:sched_wakeup", "sched:sched_waking"}, nomatch: []string{"sched:sched_switch"}},
	} {
		p, err := ParsePattern(tt.text, tt.regex)
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		if p.Kind != tt.kind || p.Library != tt.lib || p.Name != tt.name {
			t.Errorf("%q: kind %d library %q name %q; want %d %q %q", tt.text, p.Kind, p.Library, p.Name, tt.kind, tt.lib, tt.name)
		}
		for _, m := range tt.match {
			if !p.Match(m) {
				t.Errorf("%q does not match %q", tt.text, m)
			}
		}
		for _, m := range tt.nomatch {
			if p.Match(m) {
				t.Errorf("%q matches %q", tt.text, m)
			}
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, tt := range []struct {
		text  string
		regex bool
		want  string
	}{
		{"", false, "empty name"},
		{"c:", false, "empty name"},
		{"x:c:malloc", false, `type must be 'p', 't', or 'u', but got "x"`},
		{"a:b:c:d", false, "too many ':'-separated components"},
		{"t::x", false, "want t:CATEGORY:EVENT"},
		{"u::x", false, "want u:LIBRARY:PROBE"},
		{"vfs_(", true, "bad regular expression"},
		{"c:str[", true, "bad regular expression"},
	} {
		_, err := ParsePattern(tt.text, tt.regex)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q (regex %v): error %v, want ...%s...", tt.text, tt.regex, err, tt.want)
		}
	}
}

// TestGlobLiteral checks that characters other than '*' stand for
// themselves: bcc turns the glob into a regular expression without quoting,
// so that "os.*" also matches "osXfoo"; here it does not.
func TestGlobLiteral(t *testing.T) {
	p, err := ParsePattern("a.b+c?[d]*", false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match("a.b+c?[d]xyz") || p.Match("axb+c?[d]") || p.Match("a.bbc?[d]") {
		t.Error("glob metacharacters other than '*' are not literal")
	}
	if p.Literal() {
		t.Error("a pattern with '*' is literal")
	}
}

// FuzzPattern checks that parsing never panics and that a glob matches
// exactly what a simple reference matcher does.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"vfs_*", "c:str*", "t:sched:*", "u:lib:gc*", "a*b*c", "**", "p::x"} {
		f.Add(s, "vfs_read")
	}
	f.Fuzz(func(t *testing.T, text, name string) {
		for _, regex := range []bool{false, true} {
			p, err := ParsePattern(text, regex)
			if err != nil {
				continue
			}
			got := p.Match(name)
			if !regex && got != globMatch(p.Name, name) {
				t.Fatalf("glob %q on %q: Match %v, reference %v", p.Name, name, got, !got)
			}
		}
	})
}

// globMatch is a reference '*' matcher by backtracking.
func globMatch(glob, s string) bool {
	if glob == "" {
		return s == ""
	}
	if glob[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if globMatch(glob[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && s[0] == glob[0] && globMatch(glob[1:], s[1:])
}
