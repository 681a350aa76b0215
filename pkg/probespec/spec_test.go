package probespec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// show renders an expression fully parenthesised, to check precedence and
// structure.
func show(e Expr) string {
	switch e := e.(type) {
	case *Ident:
		return e.Name
	case *Int:
		return fmt.Sprint(e.Value)
	case *String:
		return fmt.Sprintf("%q", e.Value)
	case *Var:
		if e.Name == "entry" {
			return "$entry(" + e.Param + ")"
		}
		return "$" + e.Name
	case *Unary:
		return "(" + e.Op + show(e.X) + ")"
	case *Binary:
		return "(" + show(e.X) + " " + e.Op + " " + show(e.Y) + ")"
	case *Member:
		op := "."
		if e.Arrow {
			op = "->"
		}
		return show(e.X) + op + e.Name
	case *Index:
		return show(e.X) + "[" + show(e.I) + "]"
	case *Cast:
		return "((" + e.Type.String() + ")" + show(e.X) + ")"
	case *Call:
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = show(a)
		}
		return e.Func + "(" + strings.Join(args, ", ") + ")"
	case *Paren:
		return show(e.X)
	}
	return fmt.Sprintf("?%T", e)
}

func TestParseExpr(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a + b * c", "(a + (b * c))"},
		{"a * b + c", "((a * b) + c)"},
		{"a - b - c", "((a - b) - c)"},
		{"a << 2 + 1", "(a << (2 + 1))"},
		{"a < b == c > d", "((a < b) == (c > d))"},
		{"a & b ^ c | d", "(((a & b) ^ c) | d)"},
		{"a == 1 && b != 2 || !c", "(((a == 1) && (b != 2)) || (!c))"},
		{"a || b && c", "(a || (b && c))"},
		{"-a * ~b", "((-a) * (~b))"},
		{"*p + &q->r", "((*p) + (&q->r))"},
		{"args->count", "args->count"},
		{"file->f_path.dentry->d_iname[0]", "file->f_path.dentry->d_iname[0]"},
		{"(char*)$retval", "((char *)$retval)"},
		{"(u64)x / 2", "(((u64)x) / 2)"},
		{"(struct file *)p->f_inode", "((struct file *)p->f_inode)"},
		{"(unsigned long int)x", "((unsigned long)x)"},
		{"(size) * 2", "(size * 2)"},
		{"(size_t)x", "((size_t)x)"},
		{"$latency/$entry(size)", "($latency / $entry(size))"},
		{"$PID", "$PID"},
		{"STRCMP(\"test.txt\", $entry(file))", "STRCMP(\"test.txt\", $entry(file))"},
		{"$COMM == \"ba\\\"sh\"", "($COMM == \"ba\\\"sh\")"},
		{"0x10 + 010 + 'a' + 10u + 7UL", "((((16 + 8) + 97) + 10) + 7)"},
		{"0b101", "5"},
		{"((a))", "a"},
	} {
		e, err := ParseExpr(tt.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tt.in, err)
			continue
		}
		if got := show(e); got != tt.want {
			t.Errorf("ParseExpr(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if e.Pos() < 0 || e.End() > len(tt.in) || e.Pos() >= e.End() {
			t.Errorf("ParseExpr(%q): span [%d, %d) out of the text", tt.in, e.Pos(), e.End())
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, tt := range []struct {
		in                 string
		kind               Kind
		lib, fn            string
		params, types      string
		exprs              []string
		filter, label      string
		signature, hasExpr bool
	}{
		{in: "p::__kmalloc(u64 size):u64:size", kind: Entry, fn: "__kmalloc", params: "u64 size", types: "u64", exprs: []string{"size"}, signature: true},
		{in: "p:c:malloc(size_t size):size_t:size:size==16", kind: Entry, lib: "c", fn: "malloc", params: "size_t size", types: "size_t", exprs: []string{"size"}, filter: "size==16", signature: true},
		{in: "r:c:gets():char*:(char*)$retval#snooped strings", kind: Return, lib: "c", fn: "gets", types: "char *", exprs: []string{"(char*)$retval"}, label: "snooped strings", signature: true},
		{in: "p::__kmalloc(size_t size, gfp_t flags):gfp_t,size_t:flags,size", kind: Entry, fn: "__kmalloc", params: "size_t size, gfp_t flags", types: "gfp_t, size_t", exprs: []string{"flags", "size"}, signature: true},
		{in: "p::__vfs_read(struct file *file, void *buf, size_t count):char*,size_t:file->f_path.dentry->d_iname,count:file->f_path.dentry->d_iname[0]!=0",
			kind: Entry, fn: "__vfs_read", params: "struct file *file, void *buf, size_t count", types: "char *, size_t",
			exprs: []string{"file->f_path.dentry->d_iname", "count"}, filter: "file->f_path.dentry->d_iname[0]!=0", signature: true},
		{in: "p::do_sys_open(int dfd, const char __user *filename, int flags, umode_t mode):char*:filename:STRCMP(\"sample:txt\", filename)",
			kind: Entry, fn: "do_sys_open", params: "int dfd, const char __user *filename, int flags, umode_t mode", types: "char *",
			exprs: []string{"filename"}, filter: "STRCMP(\"sample:txt\", filename)", signature: true},
		{in: "t:block:block_rq_complete():u32:args->nr_sector", kind: Tracepoint, lib: "block", fn: "block_rq_complete", types: "u32", exprs: []string{"args->nr_sector"}, signature: true},
		{in: "t:syscalls:sys_enter_write", kind: Tracepoint, lib: "syscalls", fn: "sys_enter_write"},
		{in: "u:pthread:pthread_start():u64:arg2", kind: USDT, lib: "pthread", fn: "pthread_start", types: "u64", exprs: []string{"arg2"}, signature: true},
		{in: "p:/usr/lib/libfoo.so:foo(void)", kind: Entry, lib: "/usr/lib/libfoo.so", fn: "foo", signature: true},
		{in: " r :: vfs_read () # reads ", kind: Return, fn: "vfs_read", label: "reads", signature: true},
		{in: "p:c:write(int fd, char* buf, size_t len):char*:buf:fd==1", kind: Entry, lib: "c", fn: "write", params: "int fd, char *buf, size_t len", types: "char *", exprs: []string{"buf"}, filter: "fd==1", signature: true},
	} {
		s, err := ParseSpec(tt.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		p := s.Probe
		var params, types []string
		for _, prm := range p.Params {
			sep := " "
			if prm.Type.Ptr > 0 {
				sep = ""
			}
			params = append(params, strings.TrimPrefix(prm.Type.String(), "const ")+sep+prm.Name)
		}
		for _, ty := range s.Types {
			types = append(types, ty.String())
		}
		var exprs []string
		for _, e := range s.Exprs {
			exprs = append(exprs, s.ExprText(e))
		}
		filter := ""
		if s.Filter != nil {
			filter = s.ExprText(s.Filter)
		}
		got := fmt.Sprintf("%c|%s|%s|%s|%s|%q|%s|%s|%v", p.Kind, p.Library, p.Function, strings.Join(params, ", "), strings.Join(types, ", "), exprs, filter, s.Label, p.Signature)
		want := fmt.Sprintf("%c|%s|%s|%s|%s|%q|%s|%s|%v", tt.kind, tt.lib, tt.fn, strings.ReplaceAll(tt.params, "const ", ""), tt.types, tt.exprs, tt.filter, tt.label, tt.signature)
		if got != want {
			t.Errorf("ParseSpec(%q)\n got %s\nwant %s", tt.in, got, want)
		}
	}
}

func TestParamQualifiers(t *testing.T) {
	s, err := ParseSpec("p::do_sys_open(int dfd, const char __user *filename):char*:filename")
	if err != nil {
		t.Fatal(err)
	}
	f := s.Probe.Params[1]
	if f.Name != "filename" || f.Type.Name != "char" || f.Type.Ptr != 1 || !f.Type.User || !f.Type.Const {
		t.Errorf("filename parameter = %+v", f)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		in   string
		col  int
		want string
	}{
		{"p", 2, "expected ':library:function(signature)'"},
		{"p:c", 4, "expected ':function(signature)'"},
		{"x:c:write()", 1, "probe kind p (entry), r (return), t (tracepoint) or u (USDT)"},
		{"pr:c:write()", 1, "probe kind"},
		{"t::sched_switch()", 3, "tracepoint's category"},
		{"u::probe()", 3, "library or executable with the USDT probe"},
		{"p:c:()", 5, "expected a function name"},
		{"p:c:write(int fd", 17, "expected ')' to close the signature opened at column 10"},
		{"p:c:write(int fd))", 17, "unexpected ')' in the signature"},
		{"p:c:write(int)", 14, "expected a name after the type"},
		{"p:c:write(int fd, int fd)", 23, "parameter fd declared twice"},
		{"p:c:write(int fd, )", 19, "expected a parameter"},
		{"p:c:write(char buf[])", 19, "array parameters are not supported"},
		{"p:c:write(unsigned signed x)", 11, "invalid type unsigned signed"},
		{"t:sched:sched_switch(int prev)", 22, "expected an empty signature: tracepoint fields are args->NAME"},
		{"p:c:wr ite()", 7, "unexpected ' ' in the name"},
		{"p:c:write(int fd):int", 22, "expected ':' and the expressions after the types"},
		{"p:c:write(int fd):int:", 23, "expected an expression, got nothing"},
		{"p:c:write(int fd):int,:fd", 23, "expected a type"},
		{"p:c:write(int fd):int,int:fd", 27, "2 types but 1 expression"},
		{"p:c:write(int fd):int:fd +", 27, "expected an operand"},
		{"p:c:write(int fd):int:fd:", 26, "expected a filter, got nothing"},
		{"p:c:write(int fd):int:fd:fd = 1", 29, "'=' assigns; compare with '=='"},
		{"p:c:write(int fd):int:fd:fd ? 1", 29, "the ?: operator is not supported"},
		{"p:c:write(int fd):int:fd:a:b", 27, "too many ':'-separated parts"},
		{"p:c:write(int fd):int:fd#", 26, "expected a label after '#'"},
		{"p:c:write(int fd):int:(fd", 26, "expected \")\" to close the '(' at column 23"},
		{"p:c:write(int fd):int:fd[1", 27, "expected \"]\" after the index"},
		{"p:c:write(int fd):int:fd->", 27, "expected a member name"},
		{"p:c:write(int fd):int:$", 23, "expected a name after '$'"},
		{"p:c:write(int fd):int:$entry fd", 30, "expected \"(\" after $entry"},
		{"p:c:write(int fd):int:$entry(1)", 30, "expected a parameter name in $entry(...)"},
		{"p:c:write(int fd):int:\"abc", 23, "unterminated string literal"},
		{"p:c:write(int fd):int:'ab'", 23, "want exactly one character"},
		{"p:c:write(int fd):int:\"\\q\"", 24, "unknown escape \\q"},
		{"p:c:write(int fd):int:99999999999999999999", 23, "does not fit in 64 bits"},
		{"p:c:write(int fd):int:0x", 23, "malformed number"},
		{"p:c:write(int fd):int:fd @ 1", 26, "unexpected character '@'"},
		{"p:c:write(int fd):int:fd 1", 26, "expected an operator or the end of the expression, got \"1\""},
		{"p:c:write(int fd):int:(struct)x", 30, "expected a name after \"struct\""},
	} {
		_, err := ParseSpec(tt.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("ParseSpec(%q) = %v, want an *Error", tt.in, err)
			continue
		}
		if pe.Column() != tt.col || !strings.Contains(pe.Msg, tt.want) {
			t.Errorf("ParseSpec(%q):\n got column %d: %s\nwant column %d: ...%s...", tt.in, pe.Column(), pe.Msg, tt.col, tt.want)
		}
	}
}

func TestParseProbeString(t *testing.T) {
	p, err := ParseProbe("p:c:write(int fd, const void *buf, size_t count)")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "p:c:write(int fd, const void *buf, size_t count)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !p.User() {
		t.Error("p:c:write is not User()")
	}
	if _, i, ok := p.Param("count"); !ok || i != 2 {
		t.Errorf("Param(count) = %d, %v", i, ok)
	}
}

func TestColumnCountsCharacters(t *testing.T) {
	e := Errorf("é:x", 2, "boom")
	if e.Column() != 2 {
		t.Errorf("Column() = %d, want 2 (characters, not bytes)", e.Column())
	}
	if e.Error() != "column 2: boom" {
		t.Errorf("Error() = %q", e.Error())
	}
}
