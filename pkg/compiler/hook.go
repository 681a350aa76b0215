package compiler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// Backend is how kernel functions are hooked.
type Backend string

const (
	// Kprobe hooks kernel functions with kprobes and kretprobes, reading
	// arguments from pt_regs.
	Kprobe Backend = "kprobe"
	// Fentry hooks kernel functions with fentry and fexit trampolines,
	// reading arguments from the context's u64 array.
	Fentry Backend = "fentry"
)

type hookKind int

const (
	hookTracepoint hookKind = iota
	hookKprobe
	hookFentry
	hookUprobe
	hookUSDT
)

// x86-64 pt_regs offsets of the argument and return registers (struct
// pt_regs in arch/x86/include/asm/ptrace.h; checked against BTF by a test).
var (
	ptRegsArgs     = []int{112, 104, 96, 88, 72, 64} // di si dx cx r8 r9
	ptRegsArgNames = []string{"di", "si", "dx", "cx", "r8", "r9"}
)

const ptRegsAX = 80

// arg is a function parameter and where its value is at entry.
type arg struct {
	name string
	typ  *ctype
	pos  int // byte offset of the name in the text; -1 when from BTF
	off  int // pt_regs or context offset
	// read: the context slot is loaded with bpf_probe_read_kernel
	// (fentry pointers, which the verifier would type as kernel
	// pointers and then refuse arithmetic on).
	read bool
	// none: the parameter cannot be read (passed on the stack).
	none string
}

// hook is a probe point resolved against the kernel or the executable.
type hook struct {
	kind  hookKind
	ret   bool
	probe *probespec.Probe
	args  []arg

	retType *ctype
	retOff  int
	retRead bool

	tp *tracepointFormat

	// def is the memory pointers point into when nothing says otherwise.
	def space

	progType   ebpf.ProgramType
	attachType ebpf.AttachType
	section    string
	attachTo   string

	// uprobes and USDT
	path, symbol, target string
	offset               uint64
	usdt                 []usdtGroup
}

func (h *hook) describe() string {
	switch h.kind {
	case hookTracepoint:
		return "tracepoint " + h.attachTo
	case hookUprobe:
		k := "uprobe"
		if h.ret {
			k = "uretprobe"
		}
		return fmt.Sprintf("%s %s:%s", k, h.target, h.symbol)
	case hookUSDT:
		return fmt.Sprintf("usdt %s:%s", h.target, h.probe.Function)
	}
	return h.section
}

// ptRegsSize is sizeof(struct pt_regs) on x86-64.
const ptRegsSize = 168

// ctxLoadable reports whether the verifier lets the program load size bytes
// at context offset off directly: aligned, and for tracepoints not in the
// first 8 bytes (the common fields there are read with a helper instead).
func (h *hook) ctxLoadable(off, size int) bool {
	if size != 1 && size != 2 && size != 4 && size != 8 || off%size != 0 || off < 0 {
		return false
	}
	switch h.kind {
	case hookTracepoint:
		return off >= 8
	case hookFentry:
		return size == 8
	}
	return off+size <= ptRegsSize
}

func (h *hook) arg(name string) (arg, bool) {
	for _, a := range h.args {
		if a.name == name {
			return a, true
		}
	}
	return arg{}, false
}

func (h *hook) argNames() []string {
	ns := make([]string, len(h.args))
	for i, a := range h.args {
		ns[i] = a.name
	}
	return ns
}

// resolveHook works out how to hook p and read its arguments.
func (c *compiler) resolveHook(text string, p *probespec.Probe) (*hook, error) {
	h := &hook{probe: p, ret: p.Kind == probespec.Return}
	if strings.ContainsAny(p.Function, "*?") {
		return nil, probespec.Errorf(text, p.FunctionPos, "wildcards are not supported here: name one %s", map[bool]string{true: "tracepoint", false: "function"}[p.Kind == probespec.Tracepoint])
	}
	switch {
	case p.Kind == probespec.Tracepoint:
		return h, c.resolveTracepoint(text, h)
	case p.Kind == probespec.USDT:
		return h, c.resolveUSDT(text, h)
	case p.Library != "":
		return h, c.resolveUprobe(text, h)
	}
	return h, c.resolveKernelFunc(text, h)
}

func (c *compiler) resolveTracepoint(text string, h *hook) error {
	p := h.probe
	tracefs, err := findTracefs(c.opts.Tracefs)
	if err != nil {
		return err
	}
	tf, err := readFormat(tracefs, text, p, c.types)
	if err != nil {
		return err
	}
	h.kind, h.tp, h.def = hookTracepoint, tf, spaceAny
	h.progType = ebpf.TracePoint
	h.attachTo = tf.category + "/" + tf.name
	h.section = "tracepoint/" + h.attachTo
	return nil
}

// kernelFunc looks a kernel function's prototype up in BTF.
func (c *compiler) kernelFunc(name string) (*btf.FuncProto, error) {
	spec, err := c.types.btf()
	if err != nil {
		return nil, err
	}
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		return nil, err
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return nil, fmt.Errorf("%s: BTF type %v is not a function prototype", name, fn.Type)
	}
	return proto, nil
}

// ErrNoBTFFunc is wrapped by Compile's error when the fentry backend is asked
// for a kernel function that BTF does not describe (inlined or static):
// pkg/loader then moves on to kprobes.
var ErrNoBTFFunc = errors.New("kernel function not in BTF, so not hookable by fentry")

func (c *compiler) resolveKernelFunc(text string, h *hook) error {
	p := h.probe
	proto, protoErr := c.kernelFunc(p.Function)
	if protoErr != nil {
		if _, err := loader.ResolveKernelSymbol(p.Function); err != nil {
			return probespec.Errorf(text, p.FunctionPos, "unknown kernel function %q%s", p.Function, c.suggestKernelFunc(p.Function))
		}
	}
	h.def = spaceAny
	switch c.opts.Backend {
	case Fentry:
		if protoErr != nil {
			return fmt.Errorf("%s: %w", p.Function, ErrNoBTFFunc)
		}
		h.kind, h.progType = hookFentry, ebpf.Tracing
		h.attachType, h.section = ebpf.AttachTraceFEntry, "fentry/"+p.Function
		if h.ret {
			h.attachType, h.section = ebpf.AttachTraceFExit, "fexit/"+p.Function
		}
	default:
		h.kind, h.progType = hookKprobe, ebpf.Kprobe
		h.section = "kprobe/" + p.Function
		if h.ret {
			h.section = "kretprobe/" + p.Function
		}
	}
	h.attachTo = p.Function

	// Parameters: from the signature as written (bcc), else from BTF.
	var btfArgs []arg
	slot := 0
	if proto != nil {
		for i, prm := range proto.Params {
			t, err := c.types.fromBTF(prm.Type, spaceAny)
			if err != nil {
				return fmt.Errorf("%s parameter %d: %w", p.Function, i, err)
			}
			name := prm.Name
			if name == "" {
				name = fmt.Sprintf("arg%d", i)
			}
			a := arg{name: name, typ: t, pos: -1}
			n := max(1, (t.size+7)/8)
			a.off = 8 * slot
			slot += n
			btfArgs = append(btfArgs, a)
		}
		rt, err := c.types.fromBTF(proto.Return, spaceAny)
		if err != nil {
			return fmt.Errorf("%s return type: %w", p.Function, err)
		}
		h.retType = rt
	}
	if p.Signature {
		for i, prm := range p.Params {
			t, err := c.types.resolve(prm.Type, spaceAny)
			if err != nil {
				return probespec.Errorf(text, prm.Type.Pos, "%v", err)
			}
			a := arg{name: prm.Name, typ: t, pos: prm.Pos}
			if h.kind == hookFentry && i < len(btfArgs) {
				a.off = btfArgs[i].off
			} else if h.kind == hookFentry {
				a.none = fmt.Sprintf("%s has %d parameters in BTF", p.Function, len(btfArgs))
			}
			h.args = append(h.args, a)
		}
	} else {
		h.args = btfArgs
	}
	switch h.kind {
	case hookKprobe:
		for i := range h.args {
			c.ptRegsArg(&h.args[i], i)
		}
		h.retOff = ptRegsAX
	case hookFentry:
		for i := range h.args {
			if i < len(btfArgs) && btfArgs[i].typ.kind == kPtr {
				h.args[i].read = true
			}
			if h.args[i].typ.size > 8 || i < len(btfArgs) && btfArgs[i].typ.size > 8 {
				h.args[i].none = "parameters larger than 8 bytes are not supported"
			}
		}
		h.retOff = 8 * slot
		h.retRead = h.retType != nil && h.retType.kind == kPtr
	}
	if h.retType == nil || h.retType.kind == kVoid || h.retType.kind == kOther || h.retType.kind == kStruct {
		h.retType = tLong
	}
	return nil
}

func (c *compiler) ptRegsArg(a *arg, i int) {
	if i >= len(ptRegsArgs) {
		a.none = "parameters after the sixth are passed on the stack: not supported"
		return
	}
	if a.typ.size > 8 {
		a.none = "parameters larger than 8 bytes are not supported"
		return
	}
	a.off = ptRegsArgs[i]
}

// suggestKernelFunc lists BTF functions with names close to name.
func (c *compiler) suggestKernelFunc(name string) string {
	spec, err := c.types.btf()
	if err != nil {
		return ""
	}
	var names []string
	for t, err := range spec.All() {
		if err != nil {
			break
		}
		if fn, ok := t.(*btf.Func); ok && abs(len(fn.Name)-len(name)) <= 3 {
			names = append(names, fn.Name)
		}
	}
	s := suggest(name, names)
	if strings.HasPrefix(s, " (there are") {
		return ""
	}
	return s
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
