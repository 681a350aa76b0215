package compiler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// AttachMode is how a Counter attaches one count to many targets.
type AttachMode string

const (
	// AttachMulti: one program, attached to every kernel function with
	// one kprobe_multi link (5.18+), or to every site of a binary with
	// one uprobe_multi link (6.6+); each target's index is its BPF
	// cookie.
	AttachMulti AttachMode = "multi"
	// AttachCookies: one program, one link per target (per call site for
	// USDT) with the target's index as its BPF cookie (5.15+).
	AttachCookies AttachMode = "cookies"
	// AttachPrograms: one program per target with its index as an
	// immediate, for kernels without BPF cookies.
	AttachPrograms AttachMode = "programs"
)

// ErrCountKernelFunctions is returned by OpenCounter for kernel functions
// on a kernel without kprobes (the counter does not use fentry: it would
// take a program and a BTF lookup per function).
var ErrCountKernelFunctions = errors.New("counting kernel functions needs kprobes")

// CounterMap is the per-CPU array of a Counter's counts, indexed by target.
const CounterMap = "counts"

// CounterOptions configure CompileCounter and OpenCounter.
type CounterOptions struct {
	// PID counts only the threads of one process (0: all). Uprobes are
	// also attached to that process only.
	PID int
	// CPU counts only on one CPU when OneCPU is set.
	CPU    int
	OneCPU bool
	// Mode forces an attach mode; empty picks the best the kernel has:
	// multi-attach links, else a link per target with cookies, else a
	// program per target.
	Mode AttachMode
}

// Counter counts the hits of many targets of one kind with one program
// (or one program per target on kernels without cookies) and a per-CPU
// array with one slot per target.
type Counter struct {
	Targets []Target
	Mode    AttachMode
	// Spec holds the programs and the CounterMap, for pkg/loader.
	Spec *ebpf.CollectionSpec
	// Programs are the program names, one per target in AttachPrograms
	// mode.
	Programs []string

	kind    TargetKind
	opts    CounterOptions
	listing string
}

func (k TargetKind) String() string {
	switch k {
	case TargetKernel:
		return "kprobe"
	case TargetTracepoint:
		return "tracepoint"
	case TargetUser:
		return "uprobe"
	case TargetUSDT:
		return "usdt"
	}
	return fmt.Sprintf("TargetKind(%d)", int(k))
}

// ChooseAttachMode picks the attach mode for targets of kind on the
// running kernel, or checks that it has what a forced mode needs.
func ChooseAttachMode(kind TargetKind, forced AttachMode) (AttachMode, error) {
	multi := loader.Feature("")
	switch kind {
	case TargetKernel:
		multi = loader.KprobeMulti
	case TargetUser, TargetUSDT:
		multi = loader.UprobeMulti
	}
	switch forced {
	case AttachMulti:
		if multi == "" {
			return "", fmt.Errorf("attach mode %s: %ss have no multi-attach link", forced, kind)
		}
		if err := loader.Have(multi); err != nil {
			return "", fmt.Errorf("attach mode %s: %w", forced, err)
		}
		if err := loader.Have(loader.Cookies); err != nil {
			return "", fmt.Errorf("attach mode %s: %w", forced, err)
		}
		return forced, nil
	case AttachCookies:
		if err := loader.Have(loader.Cookies); err != nil {
			return "", fmt.Errorf("attach mode %s: %w", forced, err)
		}
		return forced, nil
	case AttachPrograms:
		return forced, nil
	case "":
	default:
		return "", fmt.Errorf("attach mode %q: choose %s, %s or %s", forced, AttachMulti, AttachCookies, AttachPrograms)
	}
	if loader.Have(loader.Cookies) != nil {
		return AttachPrograms, nil
	}
	if multi != "" && loader.Have(multi) == nil {
		return AttachMulti, nil
	}
	return AttachCookies, nil
}

// CompileCounter generates the counting program(s) for targets, all of one
// kind, in opts.Mode (which must be set: see ChooseAttachMode).
func CompileCounter(targets []Target, opts CounterOptions) (*Counter, error) {
	if len(targets) == 0 {
		return nil, errors.New("counter: no targets")
	}
	if opts.PID < 0 || opts.OneCPU && opts.CPU < 0 {
		return nil, fmt.Errorf("counter: pid %d, cpu %d: want positive numbers", opts.PID, opts.CPU)
	}
	kind := targets[0].Kind
	for _, t := range targets {
		if t.Kind != kind {
			return nil, fmt.Errorf("counter: targets of different kinds (%s %s, %s %s)", kind, targets[0].Name, t.Kind, t.Name)
		}
		if (kind == TargetUser || kind == TargetUSDT) && (len(t.Sites) == 0 || len(t.Sites) != len(t.RefCtr)) {
			return nil, fmt.Errorf("counter: %s %s: no call sites", kind, t.Name)
		}
	}
	switch opts.Mode {
	case AttachMulti:
		if kind == TargetTracepoint {
			return nil, fmt.Errorf("attach mode %s: tracepoints have no multi-attach link", opts.Mode)
		}
	case AttachCookies, AttachPrograms:
	default:
		return nil, fmt.Errorf("counter: attach mode %q", opts.Mode)
	}
	c := &Counter{Targets: targets, Mode: opts.Mode, kind: kind, opts: opts, Spec: &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{CounterMap: {
			Name: CounterMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(len(targets)),
		}},
		Programs: map[string]*ebpf.ProgramSpec{},
	}}
	var b strings.Builder
	fmt.Fprintf(&b, "; %d %s targets, attach mode %s\n", len(targets), kind, opts.Mode)
	fmt.Fprintf(&b, "; map %s: %s, key 4 bytes, value 8 bytes, %d entries\n", CounterMap, ebpf.PerCPUArray, len(targets))
	if opts.Mode != AttachPrograms {
		for i, t := range targets {
			fmt.Fprintf(&b, "; cookie %d: %s\n", i, t.describe())
		}
		c.addProgram(&b, "count", 0, -1)
	} else {
		for i := range targets {
			c.addProgram(&b, fmt.Sprintf("count_%d", i), i, i)
		}
	}
	c.listing = b.String()
	return c, nil
}

func (t Target) describe() string {
	switch t.Kind {
	case TargetUser, TargetUSDT:
		sites := "1 site"
		if len(t.Sites) != 1 {
			sites = fmt.Sprintf("%d sites", len(t.Sites))
		}
		return fmt.Sprintf("%s %s:%s (%s)", t.Kind, t.Path, t.Name, sites)
	}
	return fmt.Sprintf("%s %s", t.Kind, t.Name)
}

// addProgram generates a program counting target index idx, or the target
// its cookie names when idx is -1; t is the target its section names.
func (c *Counter) addProgram(b *strings.Builder, name string, t, idx int) {
	g := newProgGen(name, nil)
	g.prologue(c.opts.PID, 0)
	if c.opts.OneCPU {
		g.note(fmt.Sprintf("cpu %d filter", c.opts.CPU))
		g.call(asm.FnGetSmpProcessorId)
		g.emit(asm.JNE.Imm(asm.R0, int32(c.opts.CPU), g.exit))
	}
	key := g.push(8)
	if idx < 0 {
		g.note("target index: the attach cookie")
		g.emit(asm.Mov.Reg(asm.R1, rCtx))
		g.call(asm.FnGetAttachCookie)
	} else {
		g.note(fmt.Sprintf("target index: %s", c.Targets[idx].Name))
		g.emit(asm.Mov.Imm(asm.R0, int32(idx)))
	}
	g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
	g.note("count")
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(CounterMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.increment()
	insns := g.epilogue()

	ps := &ebpf.ProgramSpec{Name: name, Instructions: insns, License: "GPL", Type: ebpf.Kprobe}
	tg := c.Targets[t]
	switch c.kind {
	case TargetTracepoint:
		// The loader attaches the program by its section: in
		// AttachCookies mode to the first target, whose index is 0, the
		// cookie of a link without one; attach adds the others.
		ps.Type = ebpf.TracePoint
		ps.AttachTo = strings.Replace(tg.Name, ":", "/", 1)
		ps.SectionName = "tracepoint/" + ps.AttachTo
	case TargetKernel:
		switch c.Mode {
		case AttachPrograms:
			// Attached by the loader, clones (.isra.0) resolved.
			ps.AttachTo, ps.SectionName = tg.Name, "kprobe/"+tg.Name
		case AttachMulti:
			ps.AttachType, ps.SectionName = ebpf.AttachTraceKprobeMulti, "kprobe.multi"
		default:
			ps.SectionName = "kprobe"
		}
	default:
		ps.SectionName = "uprobe"
		if c.Mode == AttachMulti {
			ps.AttachType, ps.SectionName = ebpf.AttachTraceUprobeMulti, "uprobe.multi"
		}
	}
	c.Spec.Programs[name] = ps
	c.Programs = append(c.Programs, name)
	fmt.Fprintf(b, "\n%s:\t; %s\n%s", name, ps.SectionName, formatListing(insns, g.comments))
}

// Listing returns the readable assembly of the programs, with the targets'
// cookies.
func (c *Counter) Listing() string { return c.listing }

// OpenCounter compiles a Counter for targets (all of one kind, as Expand
// returns them), loads it and attaches it to every target. Closing the
// object detaches everything.
func OpenCounter(targets []Target, opts CounterOptions, lo LoadOptions) (*loader.Object, *Counter, error) {
	if len(targets) == 0 {
		return nil, nil, errors.New("counter: no targets")
	}
	kind := targets[0].Kind
	if kind == TargetKernel {
		if err := loader.Have(loader.Kprobes); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrCountKernelFunctions, err)
		}
	}
	mode, err := ChooseAttachMode(kind, opts.Mode)
	if err != nil {
		return nil, nil, err
	}
	opts.Mode = mode
	c, err := CompileCounter(targets, opts)
	if err != nil {
		return nil, nil, err
	}
	backend := fmt.Sprintf("%s (%s)", kind, mode)
	if lo.Listing != nil {
		lo.Listing(backend, c.Listing())
	}
	lopts := lo.Loader
	lopts.Backend = ""
	obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{{Name: backend, Spec: func() (*ebpf.CollectionSpec, error) { return c.Spec, nil }}}}, lopts)
	if err != nil {
		var nb *loader.NoBackendError
		if errors.As(err, &nb) && len(nb.Attempts) == 1 {
			err = fmt.Errorf("%s: %w", nb.Attempts[0].Backend, nb.Attempts[0].Err)
		}
		return nil, nil, err
	}
	if err := c.attach(obj); err != nil {
		obj.Close()
		return nil, nil, err
	}
	return obj, c, nil
}

// attach makes the links the loader does not make by section.
func (c *Counter) attach(obj *loader.Object) error {
	prog := obj.Program(c.Programs[0])
	switch c.kind {
	case TargetTracepoint:
		if c.Mode == AttachPrograms {
			return nil
		}
		for i, t := range c.Targets[1:] {
			cat, ev, _ := strings.Cut(t.Name, ":")
			l, err := link.Tracepoint(cat, ev, prog, &link.TracepointOptions{Cookie: uint64(i + 1)})
			if err != nil {
				return fmt.Errorf("tracepoint %s: %w", t.Name, err)
			}
			obj.AddLink(l)
		}
	case TargetKernel:
		switch c.Mode {
		case AttachMulti:
			syms, cookies := make([]string, len(c.Targets)), make([]uint64, len(c.Targets))
			for i, t := range c.Targets {
				syms[i], cookies[i] = t.Name, uint64(i)
			}
			l, err := link.KprobeMulti(prog, link.KprobeMultiOptions{Symbols: syms, Cookies: cookies})
			if err != nil {
				return fmt.Errorf("kprobe_multi on %d functions: %w", len(syms), err)
			}
			obj.AddLink(l)
		case AttachCookies:
			for i, t := range c.Targets {
				sym, err := loader.ResolveKernelSymbol(t.Name)
				if err != nil {
					return err
				}
				l, err := link.Kprobe(sym, prog, &link.KprobeOptions{Cookie: uint64(i)})
				if err != nil {
					return fmt.Errorf("kprobe %s: %w", t.Name, err)
				}
				obj.AddLink(l)
			}
		}
	default:
		if c.Mode == AttachMulti {
			return c.attachUprobeMulti(obj, prog)
		}
		for i, t := range c.Targets {
			p, cookie := prog, uint64(i)
			if c.Mode == AttachPrograms {
				p, cookie = obj.Program(c.Programs[i]), 0
			}
			for j, off := range t.Sites {
				err := uprobe.AttachFile(obj, p, t.HostPath, off, uprobe.Options{PID: c.opts.PID, Cookie: cookie, RefCtrOffset: t.RefCtr[j]})
				if err != nil {
					return fmt.Errorf("%s %s:%s: %w", c.kind, t.Path, t.Name, err)
				}
			}
		}
	}
	return nil
}

// attachUprobeMulti attaches one uprobe_multi link per binary.
func (c *Counter) attachUprobeMulti(obj *loader.Object, prog *ebpf.Program) error {
	type group struct {
		path                  string
		offs, cookies, refCtr []uint64
		refs                  bool
	}
	var groups []*group
	byPath := map[string]*group{}
	for i, t := range c.Targets {
		g := byPath[t.HostPath]
		if g == nil {
			g = &group{path: t.HostPath}
			byPath[t.HostPath] = g
			groups = append(groups, g)
		}
		for j, off := range t.Sites {
			g.offs = append(g.offs, off)
			g.cookies = append(g.cookies, uint64(i))
			g.refCtr = append(g.refCtr, t.RefCtr[j])
			g.refs = g.refs || t.RefCtr[j] != 0
		}
	}
	for _, g := range groups {
		ex, err := link.OpenExecutable(g.path)
		if err != nil {
			return err
		}
		o := &link.UprobeMultiOptions{Addresses: g.offs, Cookies: g.cookies, PID: uint32(c.opts.PID)}
		if g.refs {
			o.RefCtrOffsets = g.refCtr
		}
		l, err := ex.UprobeMulti(nil, prog, o)
		if err != nil {
			return fmt.Errorf("uprobe_multi on %d sites of %s: %w", len(g.offs), g.path, err)
		}
		obj.AddLink(l)
	}
	return nil
}

// Counts returns each target's count since the counter was loaded, summed
// over the CPUs.
func (c *Counter) Counts(obj *loader.Object) ([]uint64, error) {
	m := obj.Map(CounterMap)
	if m == nil {
		return nil, fmt.Errorf("map %s not loaded", CounterMap)
	}
	counts := make([]uint64, len(c.Targets))
	var vals []uint64
	for i := range counts {
		if err := m.Lookup(uint32(i), &vals); err != nil {
			return nil, fmt.Errorf("read %s[%d]: %w", CounterMap, i, err)
		}
		for _, v := range vals {
			counts[i] += v
		}
	}
	return counts, nil
}
