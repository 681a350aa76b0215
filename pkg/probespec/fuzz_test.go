package probespec

import (
	"errors"
	"testing"
)

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"p::__kmalloc(u64 size):u64:size",
		"r:c:gets():char*:(char*)$retval#snooped strings",
		"r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte",
		"p::__vfs_read(struct file *file, void *buf, size_t count):char*,size_t:file->f_path.dentry->d_iname,count:file->f_path.dentry->d_iname[0]!=0",
		"t:syscalls:sys_enter_write():u64:args->count:args->fd==1&&$PID==3",
		"r:c:open(char *file):u64:$latency/1000:STRCMP(\"test.txt\",$entry(file))",
		"u:pthread:pthread_start():u64:arg2",
		"p:c:write(int fd):int:-(~fd << 3) % 7 >= 'a' || !(u8)fd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseSpec(%q) = %v: not an *Error", s, err)
			}
			if pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("ParseSpec(%q): error position %d outside the text", s, pe.Pos)
			}
			return
		}
		check := func(e Expr) {
			Walk(e, func(n Expr) bool {
				if n.Pos() < 0 || n.End() > len(s) || n.Pos() > n.End() {
					t.Fatalf("ParseSpec(%q): node %T spans [%d, %d)", s, n, n.Pos(), n.End())
				}
				return true
			})
			_ = spec.ExprText(e)
		}
		for _, e := range spec.Exprs {
			check(e)
		}
		if spec.Filter != nil {
			check(spec.Filter)
		}
		if len(spec.Types) != len(spec.Exprs) {
			t.Fatalf("ParseSpec(%q): %d types, %d exprs", s, len(spec.Types), len(spec.Exprs))
		}
	})
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"a+b*c", "(char*)x->y.z[3]", "STRCMP(\"a\", b)", "$entry(x) / $latency", "((((", "'\\x41' << 2u"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseExpr(%q) = %v: not an *Error", s, err)
			}
			return
		}
		if e.Pos() < 0 || e.End() > len(s) {
			t.Fatalf("ParseExpr(%q): span [%d, %d)", s, e.Pos(), e.End())
		}
	})
}
