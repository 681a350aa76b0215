package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// Action is what a probe does with the values it collects.
type Action int

const (
	// Count counts events per distinct tuple of values (argdist -C,
	// funccount): a per-CPU hash from the values to a u64.
	Count Action = iota + 1
	// Log2 counts the first value in log2 slots (argdist -H,
	// funclatency): a per-CPU array of 65 u64 slots, bcc's layout; a
	// second value is totalled in one more slot (see total.go).
	Log2
	// Emit sends each event to user space (trace): an EventHeader then
	// the values, through the ring buffer or the per-CPU perf buffer of
	// bpf/include/events.bpf.h's names, which pkg/loader configures and
	// Object.OpenEvents reads.
	Emit
)

// Value is one value to collect.
type Value struct {
	Expr probespec.Expr
	// Type is the declared type (argdist's type list): the value is
	// converted to it, and char* reads a string. Nil keeps the
	// expression's own type.
	Type *probespec.Type
}

// Probe is one probe to compile.
type Probe struct {
	Point probespec.Probe
	// Text is the text the positions of Point, Values and Filter point
	// into (the specifier), for errors.
	Text   string
	Values []Value
	// Filter is nil without one.
	Filter probespec.Expr
	Action Action
}

// Options configure Compile.
type Options struct {
	// Backend hooks kernel functions; the zero value is Kprobe.
	Backend Backend
	// PID and TID keep events of one process or thread (0: all).
	PID, TID int
	// StringSize is the size in bytes of collected strings, NUL
	// included (argdist -z; default 80).
	StringSize int
	// MaxEntries sizes the count maps (default 10240).
	MaxEntries int
	// Tracefs is where tracefs is mounted (default: found).
	Tracefs string
	// BTF returns the kernel's BTF (default: /sys/kernel/btf/vmlinux,
	// loaded once per process).
	BTF func() (*btf.Spec, error)
	// KernelStacks and UserStacks make Emit probes record stack ids
	// in the StacksMap stack trace map (trace -K, -U).
	KernelStacks, UserStacks bool
	// Trace accepts bcc trace's names in expressions: arg1 to arg6 for
	// parameters by position (u64 registers beyond the signature),
	// retval, and $pid (the thread id), $tgid, $uid, $gid, $cpu, $comm.
	Trace bool
	// ExcludePID drops the events of one process (trace leaves out its
	// own unless -S): 0 drops none.
	ExcludePID int
	// Header selects the costly EventHeader fields of Emit probes
	// (trace records the time only with -t, the CPU only with -C).
	Header HeaderFields
	// SharedEntry and Nesting say how return probes keep their entry
	// times and $entry parameters per thread (see nesting.go): in one
	// map for every probe rather than one per probe, and in a stack
	// timing the outermost Nesting levels of nested or recursive calls
	// rather than one entry timing the innermost call (0).
	SharedEntry bool
	Nesting     int
}

// DefaultStringSize and DefaultMaxEntries are bcc's defaults.
const (
	DefaultStringSize = 80
	DefaultMaxEntries = 10240
	// MaxStringSize bounds Options.StringSize.
	MaxStringSize = 4096
)

// maxKeySize is the largest hash map key every kernel accepts (before 5.12
// it had to fit on the BPF stack).
const maxKeySize = 512

// stackRecordMax is the largest record built on the stack; larger ones
// go to a per-CPU scratch map.
const stackRecordMax = 256

// Collection is the result of Compile.
type Collection struct {
	// Spec holds every program and map, ready for pkg/loader (which
	// attaches tracepoints, kprobes and fentry by section).
	Spec   *ebpf.CollectionSpec
	Probes []*Compiled
}

// Compiled is one compiled probe.
type Compiled struct {
	Probe *Probe
	// Name prefixes its programs and maps: "p0".
	Name string
	// Hook says where it attaches, e.g. "tracepoint syscalls/sys_enter_write".
	Hook string
	// Programs are the names of its programs in Spec, main program first.
	Programs []string
	// Map is the name of its count or histogram map.
	Map    string
	Action Action
	// Key is the layout of the count map's key (Count), or the value
	// histogrammed (Log2: one field).
	Key Layout
	// Listing is the readable assembly of its programs.
	Listing string

	attach []attachment
}

// attachment is a uprobe the loader does not attach by itself.
type attachment struct {
	prog   string
	path   string
	offset uint64
	ret    bool
	refCtr uint64
}

// compiler holds what one Compile call shares between probes.
type compiler struct {
	opts  Options
	types *types
}

// Compile type-checks probes and generates their programs and maps.
// Errors about the probes are *probespec.Error values pointing into their
// text; a kernel function that BTF lacks under the Fentry backend gives an
// error wrapping ErrNoBTFFunc.
func Compile(probes []Probe, opts Options) (*Collection, error) {
	if opts.Backend == "" {
		opts.Backend = Kprobe
	}
	if opts.StringSize == 0 {
		opts.StringSize = DefaultStringSize
	}
	if opts.StringSize < 1 || opts.StringSize > MaxStringSize {
		return nil, fmt.Errorf("string size %d: want 1 to %d", opts.StringSize, MaxStringSize)
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.PID < 0 || opts.TID < 0 {
		return nil, fmt.Errorf("pid %d, tid %d: want positive numbers", opts.PID, opts.TID)
	}
	load := opts.BTF
	if load == nil {
		load = kernelBTF.get
	}
	c := &compiler{opts: opts, types: &types{btf: load}}
	coll := &Collection{Spec: &ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{},
		Programs: map[string]*ebpf.ProgramSpec{},
	}}
	for i := range probes {
		cp, err := c.compile(&probes[i], fmt.Sprintf("p%d", i), coll.Spec)
		if err != nil {
			return nil, err
		}
		coll.Probes = append(coll.Probes, cp)
	}
	return coll, nil
}

// value is a checked value to collect.
type value struct {
	v    *ir
	str  *strSrc
	t    *ctype // declared or own type of v
	text string
}

func (c *compiler) compile(p *Probe, name string, spec *ebpf.CollectionSpec) (*Compiled, error) {
	text := p.Text
	h, err := c.resolveHook(text, &p.Point)
	if err != nil {
		return nil, err
	}
	k := &checker{c: c, text: text, h: h}
	var vals []value
	for _, v := range p.Values {
		x, s, t, err := k.value(v.Expr, v.Type)
		if err != nil {
			return nil, err
		}
		vals = append(vals, value{v: x, str: s, t: t, text: k.exprText(v.Expr)})
	}
	var filter *ir
	if p.Filter != nil {
		if filter, err = k.condition(p.Filter); err != nil {
			return nil, err
		}
		filter.src = "filter: " + k.exprText(p.Filter)
	}
	cp := &Compiled{Probe: p, Name: name, Hook: h.describe(), Action: p.Action}
	switch p.Action {
	case Count:
		cp.Key = c.layout(vals)
		if cp.Key.Size > maxKeySize {
			pos := p.Point.End
			if len(p.Values) > 0 {
				pos = p.Values[0].Expr.Pos()
			}
			return nil, probespec.Errorf(text, pos, "the values take %d bytes, more than the %d a map key may have: collect fewer strings or shorten them (each takes the string size, %d bytes)", cp.Key.Size, maxKeySize, c.opts.StringSize)
		}
		cp.Map = name + "_counts"
		spec.Maps[cp.Map] = &ebpf.MapSpec{Name: cp.Map, Type: ebpf.PerCPUHash, KeySize: uint32(cp.Key.Size), ValueSize: 8, MaxEntries: uint32(c.opts.MaxEntries)}
		if cp.Key.Size > stackRecordMax {
			spec.Maps[name+"_scratch"] = &ebpf.MapSpec{Name: name + "_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(cp.Key.Size), MaxEntries: 1}
		}
	case Log2:
		if err := checkLog2(p, vals); err != nil {
			return nil, err
		}
		cp.Key = c.layout(vals[:1])
		cp.Map = name + "_hist"
		spec.Maps[cp.Map] = &ebpf.MapSpec{Name: cp.Map, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(Log2Slots + len(vals) - 1)}
	case Emit:
		cp.Key = c.layoutFrom(vals, EventHeaderSize)
		if cp.Key.Size > maxEventSize {
			return nil, probespec.Errorf(text, p.Values[0].Expr.Pos(), "an event of %d bytes: at most %d (collect fewer strings or shorten them)", cp.Key.Size, maxEventSize)
		}
		if cp.Key.Size > stackRecordMax {
			spec.Maps[name+"_scratch"] = &ebpf.MapSpec{Name: name + "_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(cp.Key.Size), MaxEntries: 1}
		}
		c.eventMaps(spec)
	default:
		return nil, fmt.Errorf("probe %s: unknown action %d", name, p.Action)
	}

	needEntry := h.ret && k.entry.needed()
	entryMap := name + "_entry"
	if needEntry {
		if entryMap, err = c.addEntryMap(spec, name, &k.entry); err != nil {
			return nil, probespec.Errorf(text, p.Point.FunctionPos, "%v", err)
		}
	}

	groups := []*usdtGroup{nil}
	if h.kind == hookUSDT {
		groups = groups[:0]
		for i := range h.usdt {
			groups = append(groups, &h.usdt[i])
		}
	}
	var listing strings.Builder
	fmt.Fprintf(&listing, "; %s: %s\n; %s\n", name, text, h.describe())
	for _, m := range sortedMaps(spec, name) {
		fmt.Fprintf(&listing, "; map %s: %s, key %d bytes, value %d bytes, %d entries\n", m.Name, m.Type, m.KeySize, m.ValueSize, m.MaxEntries)
	}
	for gi, grp := range groups {
		progName := name
		if len(groups) > 1 {
			progName = fmt.Sprintf("%s_%d", name, gi)
		}
		g := newProgGen(progName, h)
		g.usdt = grp
		insns, err := c.genMain(g, h, k, vals, filter, cp, entryMap)
		if err != nil {
			return nil, probespec.Errorf(text, p.Point.FunctionPos, "%v", err)
		}
		ps := c.progSpec(progName, h, insns, false)
		spec.Programs[progName] = ps
		cp.Programs = append(cp.Programs, progName)
		fmt.Fprintf(&listing, "\n%s:\t; %s\n%s", progName, ps.SectionName, formatListing(insns, g.comments))
		c.attachments(cp, h, progName, grp, false)
	}
	if needEntry {
		progName := name + "_entry"
		eh := *h
		eh.ret = false
		g := newProgGen(progName, &eh)
		insns, err := c.genEntry(g, k, entryMap)
		if err != nil {
			return nil, probespec.Errorf(text, p.Point.FunctionPos, "%v", err)
		}
		ps := c.progSpec(progName, &eh, insns, true)
		spec.Programs[progName] = ps
		cp.Programs = append(cp.Programs, progName)
		fmt.Fprintf(&listing, "\n%s:\t; %s\n%s", progName, ps.SectionName, formatListing(insns, g.comments))
		c.attachments(cp, &eh, progName, nil, true)
	}
	cp.Listing = listing.String()
	return cp, nil
}

func sortedMaps(spec *ebpf.CollectionSpec, prefix string) []*ebpf.MapSpec {
	var ms []*ebpf.MapSpec
	for _, suffix := range []string{"_counts", "_hist", "_scratch", "_entry"} {
		if m, ok := spec.Maps[prefix+suffix]; ok {
			ms = append(ms, m)
		}
	}
	return ms
}

// progSpec describes a program for the loader: tracepoints, kprobes and
// fentry are attached by section; uprobes by Collection.Attach.
func (c *compiler) progSpec(name string, h *hook, insns asm.Instructions, entry bool) *ebpf.ProgramSpec {
	ps := &ebpf.ProgramSpec{
		Name:         name,
		Type:         h.progType,
		AttachType:   h.attachType,
		AttachTo:     h.attachTo,
		SectionName:  h.section,
		Instructions: insns,
		License:      "GPL",
	}
	if entry {
		switch h.kind {
		case hookKprobe:
			ps.SectionName = "kprobe/" + h.attachTo
		case hookFentry:
			ps.AttachType, ps.SectionName = ebpf.AttachTraceFEntry, "fentry/"+h.attachTo
		case hookUprobe:
			ps.SectionName = strings.Replace(h.section, "uretprobe/", "uprobe/", 1)
		}
	}
	return ps
}

func (c *compiler) attachments(cp *Compiled, h *hook, prog string, grp *usdtGroup, entry bool) {
	switch h.kind {
	case hookUprobe:
		cp.attach = append(cp.attach, attachment{prog: prog, path: h.path, offset: h.offset, ret: h.ret && !entry})
	case hookUSDT:
		for _, s := range grp.sites {
			cp.attach = append(cp.attach, attachment{prog: prog, path: s.Target.HostPath, offset: s.Offset, refCtr: s.SemaphoreOffset})
		}
	}
}

// genMain generates a probe's main program.
func (c *compiler) genMain(g *progGen, h *hook, k *checker, vals []value, filter *ir, cp *Compiled, entryMap string) (asm.Instructions, error) {
	g.prologue(c.opts.PID, c.opts.TID)
	g.exclude(c.opts.ExcludePID)
	if h.ret && k.entry.needed() && c.opts.Nesting > 0 {
		g.nestedEntryPrologue(entryMap, &k.entry, c.opts.Nesting)
	} else if h.ret && k.entry.needed() {
		g.entryPrologue(entryMap, &k.entry)
	}
	if filter != nil {
		g.note(filter.src)
		if err := g.cond(filter, g.exit); err != nil {
			return nil, err
		}
	}
	switch cp.Action {
	case Count:
		if err := g.count(vals, cp.Key, cp.Map, cp.Name+"_scratch"); err != nil {
			return nil, err
		}
	case Log2:
		g.note(vals[0].text)
		if err := g.gen(vals[0].v); err != nil {
			return nil, err
		}
		g.log2(cp.Map)
		if len(vals) > 1 {
			if err := g.log2Total(vals[1], cp.Map); err != nil {
				return nil, err
			}
		}
	case Emit:
		if err := g.event(vals, cp.Key, cp.Name+"_scratch", c.index(cp.Name), &c.opts); err != nil {
			return nil, err
		}
	}
	insns := g.epilogue()
	if g.stackErr != nil {
		return nil, g.stackErr
	}
	return insns, nil
}

// genEntry generates the entry program of a return probe: it saves the
// entry time and the parameters $entry() reads, keyed by thread id.
func (c *compiler) genEntry(g *progGen, k *checker, entryMap string) (asm.Instructions, error) {
	g.prologue(c.opts.PID, c.opts.TID)
	g.exclude(c.opts.ExcludePID)
	if c.opts.Nesting > 0 {
		return c.genNestedEntry(g, k, entryMap)
	}
	key, rec, err := g.entryFrame(k)
	if err != nil {
		return nil, err
	}
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.stackAddr(asm.R3, rec)
	g.emit(asm.Mov.Imm(asm.R4, 0)) // BPF_ANY
	g.call(asm.FnMapUpdateElem)
	insns := g.epilogue()
	if g.stackErr != nil {
		return nil, g.stackErr
	}
	return insns, nil
}

// entryFrame pushes the thread-id key and the entry frame (the entry time,
// then the parameters $entry() reads) on the stack and fills both.
func (g *progGen) entryFrame(k *checker) (key, frame int16, err error) {
	key = g.push(8)
	frame = g.push(k.entry.frameSize())
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
	for i, a := range k.entry.args {
		v, err := k.argIR(a.pos, a)
		if err != nil {
			return 0, 0, err
		}
		g.note("$entry(" + a.name + ")")
		if err := g.gen(v); err != nil {
			return 0, 0, err
		}
		g.emit(asm.StoreMem(asm.R10, frame+int16(8+8*i), asm.R0, asm.DWord))
	}
	g.note("entry time")
	g.call(asm.FnKtimeGetNs)
	g.emit(asm.StoreMem(asm.R10, frame, asm.R0, asm.DWord))
	return key, frame, nil
}

// entryPrologue fetches and removes what the entry program saved for this
// thread; without it (the entry was missed) the event is dropped.
func (g *progGen) entryPrologue(entryMap string, n *entryNeeds) {
	key := g.push(8)
	g.latencyOff = g.push(8)
	g.note("entry values of this thread")
	g.call(asm.FnKtimeGetNs)
	g.emit(asm.StoreMem(asm.R10, g.latencyOff, asm.R0, asm.DWord))
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, g.latencyOff, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R1),
		asm.StoreMem(asm.R10, g.latencyOff, asm.R2, asm.DWord))
	for i := range n.args {
		off := g.push(8)
		g.entryOff = append(g.entryOff, off)
		g.emit(asm.LoadMem(asm.R1, asm.R0, int16(8+8*i), asm.DWord), asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
	}
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
}

// count builds the record of values and counts it.
func (g *progGen) count(vals []value, l Layout, countMap, scratchMap string) error {
	if err := g.record(vals, l, scratchMap); err != nil {
		return err
	}
	g.note("count")
	insert := g.newLabel("insert")
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(countMap), asm.Mov.Reg(asm.R2, rRecord))
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, insert))
	g.increment()
	g.emit(asm.Ja.Label(g.exit))
	g.bind(insert)
	one := g.push(8)
	g.emit(storeImm(asm.R10, one, 1, asm.DWord), asm.LoadMapPtr(asm.R1, 0).WithReference(countMap), asm.Mov.Reg(asm.R2, rRecord))
	g.stackAddr(asm.R3, one)
	g.emit(asm.Mov.Imm(asm.R4, 1)) // BPF_NOEXIST
	g.call(asm.FnMapUpdateElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	// Another CPU inserted the key first: count on this CPU's slot.
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(countMap), asm.Mov.Reg(asm.R2, rRecord))
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.increment()
	return nil
}

// record points rRecord at a zeroed record of l.Size bytes (on the stack,
// or in a per-CPU scratch map when large) and stores the values at their
// fields' offsets.
func (g *progGen) record(vals []value, l Layout, scratchMap string) error {
	if l.Size > stackRecordMax {
		zero := g.push(8)
		g.emit(storeImm(asm.R10, zero, 0, asm.Word), asm.LoadMapPtr(asm.R1, 0).WithReference(scratchMap))
		g.stackAddr(asm.R2, zero)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JEq.Imm(asm.R0, 0, g.exit), asm.Mov.Reg(rRecord, asm.R0))
	} else {
		rec := g.push(l.Size)
		g.emit(asm.Mov.Reg(rRecord, asm.R10), asm.Add.Imm(rRecord, int32(rec)))
	}
	for i := 0; i < l.Size; i += 8 {
		g.emit(storeImm(rRecord, int16(i), 0, asm.DWord))
	}
	for i, v := range vals {
		f := l.Fields[i]
		g.note(v.text)
		switch {
		case v.str != nil && v.str.comm:
			g.addrOf(asm.R1, rRecord, int16(f.Offset))
			g.emit(asm.Mov.Imm(asm.R2, int32(min(16, f.Size))))
			g.call(asm.FnGetCurrentComm)
		case v.str != nil:
			if err := g.gen(v.str.addr); err != nil {
				return err
			}
			n := f.Size
			if v.str.max > 0 {
				n = min(n, v.str.max)
			}
			g.read(rRecord, int16(f.Offset), n, v.str.sp, true)
		default:
			if err := g.gen(v.v); err != nil {
				return err
			}
			g.emit(asm.StoreMem(rRecord, int16(f.Offset), asm.R0, sizeOf(f.Size)))
		}
	}
	return nil
}

// increment adds one to the u64 r0 points to (a per-CPU value).
func (g *progGen) increment() {
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
}

// Log2Slots is the size of a Log2 map: slots 0 to 64.
const Log2Slots = 65

// log2 counts r0 in its log2 slot: max(bits.Len64(v), 1), bcc's
// bpf_log2l, which pkg/histogram prints.
func (g *progGen) log2(histMap string) {
	g.note("log2 slot")
	g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.Mov.Imm(asm.R2, 0))
	for _, s := range []int32{32, 16, 8, 4, 2, 1} {
		skip := g.newLabel("bits")
		g.emit(asm.Mov.Reg(asm.R3, asm.R1), asm.RSh.Imm(asm.R3, s), asm.JEq.Imm(asm.R3, 0, skip),
			asm.Mov.Reg(asm.R1, asm.R3), asm.Add.Imm(asm.R2, s))
		g.bind(skip)
	}
	nonzero := g.newLabel("slot")
	g.emit(asm.Add.Reg(asm.R2, asm.R1), asm.JNE.Imm(asm.R2, 0, nonzero), asm.Mov.Imm(asm.R2, 1))
	g.bind(nonzero)
	key := g.push(8)
	g.emit(asm.StoreMem(asm.R10, key, asm.R2, asm.Word), asm.LoadMapPtr(asm.R1, 0).WithReference(histMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.increment()
}
