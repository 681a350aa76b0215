package probespec

import (
	"strings"
	"testing"
)

func TestParseTrace(t *testing.T) {
	for _, tc := range []struct {
		in             string
		kind           Kind
		lib, fn        string
		params         int
		filter, format string
		hasFormat      bool
		args           []string
	}{
		{in: "do_sys_open", kind: Entry, fn: "do_sys_open"},
		{in: "c:malloc \"size = %d\", arg1", kind: Entry, lib: "c", fn: "malloc", format: "size = %d", hasFormat: true, args: []string{"arg1"}},
		{in: "r::do_sys_open \"%llx\", retval", kind: Return, fn: "do_sys_open", format: "%llx", hasFormat: true, args: []string{"retval"}},
		{in: "sys_read (arg3 > 20000) \"read %d bytes\", arg3", kind: Entry, fn: "sys_read", filter: "arg3 > 20000", format: "read %d bytes", hasFormat: true, args: []string{"arg3"}},
		{in: "p:c:write (arg1 == 1) \"writing %d bytes to STDOUT\", arg3", kind: Entry, lib: "c", fn: "write", filter: "arg1 == 1", format: "writing %d bytes to STDOUT", hasFormat: true, args: []string{"arg3"}},
		{in: "r::__kmalloc (retval == 0) \"kmalloc failed!\"", kind: Return, fn: "__kmalloc", filter: "retval == 0", format: "kmalloc failed!", hasFormat: true},
		{in: "t:block:block_rq_complete \"sectors=%d\", args->nr_sector", kind: Tracepoint, lib: "block", fn: "block_rq_complete", format: "sectors=%d", hasFormat: true, args: []string{"args->nr_sector"}},
		{in: "u:pthread:pthread_create (arg4 != 0)", kind: USDT, lib: "pthread", fn: "pthread_create", filter: "arg4 != 0"},
		{in: "p::SyS_nanosleep(struct timespec *ts) \"sleep for %lld ns\", ts->tv_nsec", kind: Entry, fn: "SyS_nanosleep", params: 1, format: "sleep for %lld ns", hasFormat: true, args: []string{"ts->tv_nsec"}},
		{in: "p:c:open(char *path, int flags) (STRCMP(\"a(b\", path)) \"%s, %d\", path, flags", kind: Entry, lib: "c", fn: "open", params: 2, filter: "STRCMP(\"a(b\", path)", format: "%s, %d", hasFormat: true, args: []string{"path", "flags"}},
		{in: "  t:sched:sched_switch   \"\"  ", kind: Tracepoint, lib: "sched", fn: "sched_switch", hasFormat: true},
		{in: "lib:fn \"a\\tb\\\"c\"", kind: Entry, lib: "lib", fn: "fn", format: "a\tb\"c", hasFormat: true},
	} {
		s, err := ParseTrace(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		p := s.Probe
		if p.Kind != tc.kind || p.Library != tc.lib || p.Function != tc.fn || len(p.Params) != tc.params {
			t.Errorf("%q: probe %v %q %q %d params", tc.in, p.Kind, p.Library, p.Function, len(p.Params))
		}
		filter := ""
		if s.Filter != nil {
			filter = s.Text[s.Filter.Pos():s.Filter.End()]
		}
		if filter != tc.filter {
			t.Errorf("%q: filter %q, want %q", tc.in, filter, tc.filter)
		}
		if s.Format != tc.format || s.HasFormat != tc.hasFormat {
			t.Errorf("%q: format %q %v, want %q %v", tc.in, s.Format, s.HasFormat, tc.format, tc.hasFormat)
		}
		var args []string
		for _, a := range s.Args {
			args = append(args, strings.TrimSpace(s.Text[a.Pos():a.End()]))
		}
		if strings.Join(args, "|") != strings.Join(tc.args, "|") {
			t.Errorf("%q: args %q, want %q", tc.in, args, tc.args)
		}
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, tc := range []struct{ in, col, msg string }{
		{"", "column 1", "expected a probe"},
		{"x:c:malloc", "column 1", "probe kind"},
		{"do_sys_open (arg1 > 2", "column 13", "unmatched '('"},
		{"do_sys_open \"%d\" arg1", "column 18", "expected ','"},
		{"do_sys_open \"%d", "column 13", "unterminated string"},
		{"do_sys_open size", "column 13", "format string"},
		{"kfree_skb+0x12", "column 10", "offsets"},
		{"u:lib:prov:probe", "column 11", "provider"},
		{"t:sched:sched_switch(int x)", "column 22", "signature"},
		{"do_sys_open \"%d\", arg1 +", "column 25", "expected"},
		{"c:malloc (arg1 >) \"x\"", "column 17", "expected"},
	} {
		_, err := ParseTrace(tc.in)
		if err == nil {
			t.Errorf("%q: no error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.col) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v; want %s, %q", tc.in, err, tc.col, tc.msg)
		}
	}
}

func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{"do_sys_open", "r::f \"%d\", retval", "c:malloc (arg1 > 2) \"%s\", arg2", "t:a:b (args->x == 1)", "u:l:p \"%d %s\", arg1, arg2", "f(int a) (a) \"\"", "f (\")\")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseTrace(in)
		if err != nil {
			if e, ok := err.(*Error); ok && e.Text != in {
				t.Fatalf("error text %q, want the input %q", e.Text, in)
			}
			return
		}
		for _, a := range s.Args {
			if a.Pos() < 0 || a.End() > len(s.Text) || a.Pos() > a.End() {
				t.Fatalf("argument span %d-%d out of %q", a.Pos(), a.End(), s.Text)
			}
		}
	})
}
