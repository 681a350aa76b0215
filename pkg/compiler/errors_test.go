package compiler

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// TestCompileErrors checks that what the compiler cannot turn into a
// verifiable program is refused before load, pointing into the specifier.
func TestCompileErrors(t *testing.T) {
	kerneltest.Root(t)
	w := "t:syscalls:sys_enter_write():"
	long := strings.Repeat("x", 200)
	fn := "p:" + funcs(t)
	deep := "args->count" + strings.Repeat(" + (args->count", 70) + strings.Repeat(")", 70)
	for _, tt := range []struct {
		spec   string
		action Action
		col    int // 0: anywhere; -1: the column of the last word

		want string
	}{
		{w + "u64:args->cnt", Count, 40, `unknown field "cnt" of tracepoint syscalls:sys_enter_write: the fields are __syscall_nr, fd, buf, count`},
		{"t:syscalls:sys_enter_wrte():u64:1", Count, 12, "unknown tracepoint syscalls:sys_enter_wrte (did you mean sys_enter_write"},
		{"t:syscals:sys_enter_write():u64:1", Count, 3, `unknown tracepoint category "syscals" (did you mean syscalls`},
		{w + "u64:args->count << 64", Count, 49, "shift by 64: out of range 0-63"},
		{w + "u64:args->count >> -1", Count, 49, "shift by -1: out of range 0-63"},
		{w + "u64:args->count / 0", Count, 48, "division by zero"},
		{w + "u64:args->count % (2 - 2)", Count, 48, "division by zero"},
		{w + "u64:$retval", Count, 34, "$retval is only available in return probes (r:)"},
		{w + "u64:$latency", Count, 34, "$latency is only available in return probes"},
		{w + "u64:$entry(fd)", Count, 34, "$entry is only available in return probes"},
		{w + "u64:$FOO", Count, 34, "unknown variable $FOO: there are $retval, $latency, $entry(param), $PID"},
		{w + "u64:fdd", Count, 34, `unknown name "fdd": tracepoint syscalls:sys_enter_write has args->FIELD for the fields __syscall_nr, fd, buf, count`},
		{w + "u64:args", Count, 34, "args is the tracepoint's record: write args->FIELD"},
		{w + "u64:args.fd", Count, 38, "expected '->' after args"},
		{w + `u64:"abc"`, Count, 34, "a string literal can only be compared"},
		{w + "u64:$COMM", Count, 34, "$COMM is a string"},
		{w + "u64:$COMM", Log2, 34, "$COMM is a string"},
		{w + "char*:args->count", Log2, 36, "a histogram needs a number; args->count is a string"},
		{w + "u64:args->count->x", Count, 45, "'->' needs a pointer to a struct; args->count is size_t"},
		{w + "u64:((struct task_struct *)args->buf)->nosuch", Count, 69, `struct task_struct has no member "nosuch"; its members are`},
		{w + "u64:(struct nosuch *)args->buf", Count, 35, "struct nosuch: no such type in kernel BTF"},
		{w + "u64:*args->count", Count, 34, "'*' needs a pointer; args->count is size_t"},
		{w + "u64:*(void *)args->buf", Count, 34, "cannot dereference (void *)args->buf (void *)"},
		{w + "u64:FOO(1)", Count, 34, "unknown function FOO: the only function is STRCMP"},
		{w + `u64:1:STRCMP(args->buf, "x")`, Count, 43, "STRCMP's first argument must be a string literal"},
		{w + `u64:1:STRCMP("x")`, Count, 36, "STRCMP takes 2 arguments"},
		{w + `u64:1:STRCMP("x", "y")`, Count, 48, "STRCMP's second argument must be a string from the probe"},
		{w + `u64:1:"x" == "y"`, Count, 40, "comparing two string literals"},
		{w + `u64:1:STRCMP("` + long + `", $COMM)`, Count, 43, "string literal of 200 bytes: at most 128"},
		{w + "struct file:1", Count, 30, "cannot collect values of type struct file"},
		{w + "u64:((struct task_struct *)args->buf)->se", Count, 34, "is a struct sched_entity: use one of its members"},
		{w + "u64:&args->count", Count, 34, "'&' needs a struct member or array element in memory"},
		{w + "u64:args->buf[args]", Count, 44, "args is the tracepoint's record"},
		{w + "u64:((struct file *)args->buf).f_inode", Count, 60, "'.' needs a struct; ((struct file *)args->buf) is struct file * (it is a pointer: write"},
		{"t:sched:sched_switch():u64:args->prev_comm[16]", Count, 44, "index 16 out of bounds of char[16]"},
		{w + "u64:" + deep, Count, 0, "needs more than the 512 bytes of BPF stack"},
		{"t:sched:sched_switch():char*,char*,char*,char*,char*,char*,char*:args->prev_comm,args->next_comm,$COMM,$COMM,$COMM,$COMM,$COMM", Count, 66, "the values take 560 bytes, more than the 512 a map key may have"},
		{"p::vfs_*():int:1", Count, 4, "wildcards are not supported here: name one function"},
		{"p::no_such_kernel_function_x():int:1", Count, 4, `unknown kernel function "no_such_kernel_function_x"`},
		{"p::vfs_read(int a, int b, int c, int d, int e, int f, int g):int:g", Count, 66, "parameter g: parameters after the sixth are passed on the stack: not supported"},
		{"p::vfs_read(struct nosuch *a):int:1", Count, 13, "struct nosuch: no such type"},
		{fn + ":add6(int fd):int:fdd", Count, -1, `unknown name "fdd": the parameters are fd`},
		{fn + ":add6():int:fd", Count, -1, `unknown name "fd": the signature declares no parameters (write one, e.g. add6(int fd))`},
		{"r" + fn[1:] + ":add6(int fd):int:fd", Count, -1, "fd is a parameter: a return probe reads it at entry with $entry(fd)"},
		{"r" + fn[1:] + ":add6(int fd):int:$entry(x)", Count, -1, "$entry(x): no such parameter; the parameters are fd"},
		{fn + ":no_such_function_x():int:1", Count, len(fn) + 2, `no function "no_such_function_x" in`},
		{"p:no_such_library_x:write():int:1", Count, 3, "target not found"},
		{"u" + fn[1:] + ":no_such_probe_x():int:1", Count, len(fn) + 2, `no USDT probe "no_such_probe_x" in ` + fn[2:] + ": it has no USDT probes"},
	} {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := Compile([]Probe{probe(t, tt.spec, tt.action)}, Options{})
			var pe *probespec.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile = %v, want a *probespec.Error", err)
			}
			if pe.Text != tt.spec {
				t.Errorf("error text %q, want the specifier", pe.Text)
			}
			if tt.col == -1 {
				tt.col = strings.LastIndexAny(tt.spec, ":") + 2
			}
			if tt.col != 0 && pe.Column() != tt.col || !strings.Contains(pe.Msg, tt.want) {
				t.Errorf("Compile:\n got column %d: %s\nwant column %d: ...%s...", pe.Column(), pe.Msg, tt.col, tt.want)
			}
			if strings.Contains(err.Error(), "verifier") {
				t.Errorf("error mentions the verifier: %v", err)
			}
		})
	}
}
