package compiler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// propGen makes random expressions that are well typed for the tracepoint
// syscalls:sys_enter_write: numbers from fields, specials, struct members
// reached through BTF casts, array elements, string comparisons.
type propGen struct{ r *rand.Rand }

func (g propGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g propGen) num(depth int) string {
	if depth == 0 || g.r.IntN(4) == 0 {
		return g.pick("args->count", "args->fd", "args->__syscall_nr", "args->common_pid", "$PID", "$TID", "$UID", "$GID", "$CPU",
			"1", "0", "-3", "0xffffffff", "1234567890123", "'z'",
			"((struct task_struct *)args->buf)->pid",
			"((struct task_struct *)args->buf)->comm[3]",
			"((struct task_struct *)args->buf)->sched_reset_on_fork",
			"((struct task_struct *)args->buf)->real_parent->tgid",
			"((struct file *)args->buf)->f_path.dentry->d_name.len",
			"args->buf[2]", "*args->buf", "(u64)args->buf")
	}
	switch n := g.r.IntN(12); {
	case n < 2:
		return g.pick("-", "~", "!") + "(" + g.num(depth-1) + ")"
	case n < 4:
		return "(" + g.pick("u8", "s16", "u32", "int", "long", "u64", "unsigned char") + ")(" + g.num(depth-1) + ")"
	case n < 5:
		return "(" + g.str() + g.pick(" == ", " != ") + `"` + g.pick("bash", "", "a much longer literal than any comm") + `")`
	case n < 6:
		return `STRCMP("` + g.pick("x", "/etc/passwd") + `", ` + g.str() + ")"
	case n < 7:
		return "args->buf[" + g.num(depth-1) + "]"
	}
	return "(" + g.num(depth-1) + " " + g.pick(evalBinary...) + " " + g.num(depth-1) + ")"
}

func (g propGen) str() string {
	return g.pick("$COMM", "args->buf", "((struct task_struct *)args->buf)->comm", "((struct file *)args->buf)->f_path.dentry->d_name.name", "(char *)args->count")
}

// value returns a type and an expression of that type.
func (g propGen) value(depth int) (string, string) {
	if g.r.IntN(5) == 0 {
		return "char*", g.str()
	}
	return g.pick("u8", "s16", "u32", "int", "long", "u64", "void*"), g.num(depth)
}

// TestProperty compiles random well-typed specifiers and loads them: each
// must be accepted by the verifier or refused by the compiler with an
// error pointing into the specifier, never rejected by the verifier.
func TestProperty(t *testing.T) {
	kerneltest.Root(t)
	r := rand.New(rand.NewPCG(3, 5))
	g := propGen{r}
	const n = 150
	refused := 0
	for i := range n {
		var types, exprs []string
		for range 1 + r.IntN(4) {
			ty, e := g.value(3)
			types, exprs = append(types, ty), append(exprs, e)
		}
		action := Count
		if r.IntN(3) == 0 {
			action = Log2
			types, exprs = []string{"u64"}, []string{g.num(3)}
		}
		spec := fmt.Sprintf("t:syscalls:sys_enter_write():%s:%s", strings.Join(types, ","), strings.Join(exprs, ","))
		if r.IntN(2) == 0 {
			spec += ":" + g.num(3)
		}
		opts := Options{StringSize: []int{1, 16, 80, 300}[r.IntN(4)]}
		if r.IntN(2) == 0 {
			opts.PID = 1 + r.IntN(1000)
		}
		coll, err := Compile([]Probe{probe(t, spec, action)}, opts)
		if err != nil {
			var pe *probespec.Error
			if !errors.As(err, &pe) {
				t.Errorf("%d: %s: %v: not a *probespec.Error", i, spec, err)
			}
			if refused < 8 {
				t.Logf("refused: %v", err)
			}
			refused++
			continue
		}
		if err := load(coll); err != nil {
			t.Errorf("%d: %s: the verifier refused what the compiler accepted: %v\n%s", i, spec, err, coll.Listing())
		}
	}
	t.Logf("%d specifiers: %d loaded, %d refused before load", n, n-refused, refused)
}

// TestKernelFunctions compiles kernel function probes for both backends
// (BTF is all they need) and loads them where the kernel has the backend.
func TestKernelFunctions(t *testing.T) {
	kerneltest.Root(t)
	specs := []struct {
		spec   string
		action Action
	}{
		{"p::vfs_read(struct file *file, char *buf, size_t count):size_t,char*:count,file->f_path.dentry->d_name.name:count > 1", Count},
		{"p::vfs_read:char*,long:file->f_path.dentry->d_name.name,count", Count},
		{"p::vfs_read(struct file *file, char __user *buf):u8:buf[0]", Count},
		{"r::vfs_read():long:$retval", Log2},
		{"r::vfs_read(struct file *file, char *buf, size_t count):u64,size_t,char*:$latency,$entry(count),$entry(file)->f_path.dentry->d_name.name:$latency > 1000 && $retval > 0", Count},
		{"r::vfs_read:u64:$latency / $entry(count)", Log2},
		{"r::d_path():char*:$retval", Count},
		{"p::do_sys_openat2(int dfd, const char __user *filename):char*:filename:STRCMP(\"/etc/passwd\", filename)", Count},
	}
	for _, b := range []struct {
		backend Backend
		feature loader.Feature
	}{{Kprobe, loader.Kprobes}, {Fentry, loader.Fentry}} {
		t.Run(string(b.backend), func(t *testing.T) {
			var colls []*Collection
			for _, s := range specs {
				coll, err := Compile([]Probe{probe(t, s.spec, s.action)}, Options{Backend: b.backend})
				if err != nil {
					t.Fatalf("%s: %v", s.spec, err)
				}
				colls = append(colls, coll)
			}
			kerneltest.Need(t, b.feature)
			for i, coll := range colls {
				if err := load(coll); err != nil {
					t.Errorf("%s: %v\n%s", specs[i].spec, err, coll.Listing())
				}
			}
		})
	}
}

// TestPtRegs checks the pt_regs offsets against the kernel's BTF.
func TestPtRegs(t *testing.T) {
	kerneltest.Root(t)
	ts := &types{btf: kernelBTF.get}
	regs, err := ts.named("struct pt_regs")
	if err != nil {
		t.Fatal(err)
	}
	if regs.size != ptRegsSize {
		t.Errorf("sizeof(struct pt_regs) = %d, want %d", regs.size, ptRegsSize)
	}
	for name, off := range ptRegs {
		m, _, ok := findMember(regs.comp, name)
		if !ok || m.off != off {
			t.Errorf("pt_regs.%s at %d (found %v), want %d", name, m.off, ok, off)
		}
	}
	for i, name := range ptRegsArgNames {
		if ptRegs[name] != ptRegsArgs[i] {
			t.Errorf("argument %d in %s: offset %d, want %d", i, name, ptRegsArgs[i], ptRegs[name])
		}
	}
}
