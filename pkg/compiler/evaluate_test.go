package compiler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// evalCounts are the write() counts the evaluation tests pass, edge cases
// of every width included.
var evalCounts = []uint64{0, 1, 7, 200, 65535, 1<<31 + 5, 1<<32 + 3, 1<<63 + 9, 0xfffffffffffffff0}

// writeCounts calls write(fd, buf, n) for each n: the tracepoint sees n,
// and /dev/null accepts any count without reading the buffer (counts past
// the end of user memory fail with EFAULT after the tracepoint).
func writeCounts(t testing.TB, fd int, counts []uint64) {
	t.Helper()
	var buf [8]byte
	for _, n := range counts {
		if _, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(n)); errno != 0 && errno != unix.EFAULT {
			t.Fatalf("write(%d, buf, %d): %v", fd, n, errno)
		}
	}
}

// holdTracepoint keeps an empty program on syscalls:sys_enter_write for the
// rest of the test, so that the tests' own attach and detach cycles do not
// patch kernel text each time (which has crashed kernels under qemu's TCG).
func holdTracepoint(t testing.TB) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.TracePoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := link.Tracepoint("syscalls", "sys_enter_write", prog, nil)
	if err != nil {
		prog.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		prog.Close()
	})
}

func devNull(t testing.TB) int {
	t.Helper()
	f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// run loads coll, attaches its tracepoint programs, writes counts to fd and
// returns the loaded collection (closed by the test's cleanup).
func run(t testing.TB, coll *Collection, fd int, counts []uint64) *ebpf.Collection {
	t.Helper()
	c, err := ebpf.NewCollection(coll.Spec)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, coll.Listing())
	}
	t.Cleanup(c.Close)
	var links []link.Link
	for name, ps := range coll.Spec.Programs {
		group, tp, _ := strings.Cut(ps.AttachTo, "/")
		l, err := link.Tracepoint(group, tp, c.Programs[name], nil)
		if err != nil {
			t.Fatalf("attach %s: %v", name, err)
		}
		links = append(links, l)
	}
	writeCounts(t, fd, counts)
	for _, l := range links {
		l.Close()
	}
	return c
}

// fieldsFor substitutes the tracepoint fields of expr by constants of their
// type, so that the checker folds it to what C says it evaluates to.
func constantFor(expr string, count uint64, fd int) string {
	expr = strings.ReplaceAll(expr, "args->count", fmt.Sprintf("((size_t)%du)", count))
	return strings.ReplaceAll(expr, "args->fd", fmt.Sprintf("((unsigned int)%d)", fd))
}

// fold returns what the compiler's constant folding makes of expr as a u64
// value, or false if it refuses expr.
func foldValue(t *testing.T, expr string) (uint64, bool) {
	t.Helper()
	text := "t:syscalls:sys_enter_write():u64:" + expr
	s, err := probespec.ParseSpec(text)
	if err != nil {
		t.Fatalf("ParseSpec(%q): %v", text, err)
	}
	c := &compiler{opts: Options{StringSize: DefaultStringSize}, types: &types{btf: kernelBTF.get}}
	h, err := c.resolveHook(text, &s.Probe)
	if err != nil {
		t.Fatal(err)
	}
	k := &checker{c: c, text: text, h: h}
	v, _, _, err := k.value(s.Exprs[0], &s.Types[0])
	if err != nil {
		return 0, false
	}
	if v.op != opConst {
		t.Fatalf("%s: not folded to a constant (op %d)", expr, v.op)
	}
	return v.val, true
}

var (
	evalLeaves = []string{"args->count", "args->fd", "0", "1", "2", "3", "7", "63", "64", "-1", "-5", "0x7fffffff", "4294967295u", "123456789012", "'a'", "-9223372036854775807L"}
	evalUnary  = []string{"-", "~", "!"}
	evalCasts  = []string{"u8", "s8", "u16", "s16", "u32", "int", "long", "u64", "char", "short", "unsigned char", "unsigned int"}
	evalBinary = []string{"+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||"}
)

// randomExpr returns a random integer expression over args->count and
// args->fd.
func randomExpr(r *rand.Rand, depth int) string {
	if depth == 0 || r.IntN(5) == 0 {
		return evalLeaves[r.IntN(len(evalLeaves))]
	}
	switch n := r.IntN(10); {
	case n < 2:
		return evalUnary[r.IntN(len(evalUnary))] + "(" + randomExpr(r, depth-1) + ")"
	case n < 4:
		return "(" + evalCasts[r.IntN(len(evalCasts))] + ")(" + randomExpr(r, depth-1) + ")"
	}
	return "(" + randomExpr(r, depth-1) + " " + evalBinary[r.IntN(len(evalBinary))] + " " + randomExpr(r, depth-1) + ")"
}

// TestEvaluate checks the generated code against C's semantics: random
// integer expressions over a tracepoint's fields are evaluated by the
// kernel for known write() counts and by the compiler's constant folding
// with the fields replaced by the same values, and must agree.
func TestEvaluate(t *testing.T) {
	kerneltest.Root(t)
	holdTracepoint(t)
	fd := devNull(t)
	r := rand.New(rand.NewPCG(7, 11))
	const batches, perBatch = 30, 7
	checked := 0
	for range batches {
		var exprs []string
		for len(exprs) < perBatch {
			e := randomExpr(r, 4)
			ok := true
			for _, n := range evalCounts {
				if _, folds := foldValue(t, constantFor(e, n, fd)); !folds {
					ok = false // e.g. a constant shift out of range
				}
			}
			if ok {
				exprs = append(exprs, e)
			}
		}
		types := strings.Repeat(",u64", len(exprs))
		spec := fmt.Sprintf("t:syscalls:sys_enter_write():u64%s:args->count,%s:args->fd == %d", types, strings.Join(exprs, ","), fd)
		coll, err := Compile([]Probe{probe(t, spec, Count)}, Options{PID: os.Getpid()})
		if err != nil {
			var pe *probespec.Error
			if errors.As(err, &pe) {
				t.Fatalf("%s: %v (the folded version compiles)", spec, err)
			}
			t.Fatal(err)
		}
		c := run(t, coll, fd, evalCounts)
		entries, err := ReadCounts(c.Maps[coll.Probes[0].Map], false)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(evalCounts) {
			t.Fatalf("%s: %d keys, want %d (one per count)", spec, len(entries), len(evalCounts))
		}
		layout := coll.Probes[0].Key
		for _, e := range entries {
			n := layout.Fields[0].Value(e.Key).(uint64)
			if e.Count != 1 {
				t.Errorf("count %d seen %d times", n, e.Count)
			}
			for i, expr := range exprs {
				got := layout.Fields[i+1].Value(e.Key).(uint64)
				want, _ := foldValue(t, constantFor(expr, n, fd))
				checked++
				if got != want {
					t.Errorf("args->count = %d, args->fd = %d: %s = %d (%#x), C says %d (%#x)", n, fd, expr, got, got, want, want)
				}
			}
		}
		c.Close()
	}
	t.Logf("%d evaluations agree", checked)
}

// TestLog2Slots checks the BPF log2 slot against pkg/histogram's.
func TestLog2Slots(t *testing.T) {
	kerneltest.Root(t)
	holdTracepoint(t)
	fd := devNull(t)
	spec := fmt.Sprintf("t:syscalls:sys_enter_write():u64:args->count:args->fd == %d", fd)
	coll, err := Compile([]Probe{probe(t, spec, Log2)}, Options{PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	var counts []uint64
	for i := range 64 {
		counts = append(counts, 1<<i, 1<<i-1, 1<<i+1)
	}
	c := run(t, coll, fd, counts)
	got, err := ReadLog2(c.Maps[coll.Probes[0].Map])
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, Log2Slots)
	for _, n := range counts {
		want[histogram.Log2Slot(n)]++
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d: %d, want %d", i, got[i], want[i])
		}
	}
}
