package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Entry maps: what a return probe's entry program saves for each thread
// (the entry time, then the parameters $entry() reads) and how the return
// program finds it again.
//
// By default each return probe has its own map, p0_entry, holding one
// entry per thread: a call that starts while another of the same function
// is in progress on the thread (recursion) overwrites it, so only the
// innermost call is timed. Options.SharedEntry gives every return probe of
// the collection one map, SharedEntryMap, so that calls of different
// probed functions nested on one thread behave like recursion (bcc
// funclatency's single "start" hash).
//
// Options.Nesting = N keeps instead a stack per thread: a u64 depth, then
// N frames of the entry time and parameters. The entry program always
// adds one to the depth and saves its frame when the depth was below N;
// the return program takes one off and, when the frame is one of the N
// saved, times the call with it; at depth 0 the thread's entry is deleted.
// The outermost N levels of nested or recursive calls are timed, deeper
// ones are not (bcc funclatency -l pairs them with the wrong entries).

// MaxNesting bounds Options.Nesting.
const MaxNesting = 32

// SharedEntryMap is the entry map every return probe uses under
// Options.SharedEntry.
const SharedEntryMap = "entry"

// maxNestedEntry bounds an entry stack in bytes: the entry program zeroes
// one on its stack to create it.
const maxNestedEntry = 272

func (n *entryNeeds) frameSize() int { return 8 + 8*len(n.args) }

// addEntryMap adds the entry map of a return probe to spec and returns its
// name.
func (c *compiler) addEntryMap(spec *ebpf.CollectionSpec, probe string, n *entryNeeds) (string, error) {
	levels := c.opts.Nesting
	if levels < 0 || levels > MaxNesting {
		return "", fmt.Errorf("nesting %d: want 0 to %d levels", levels, MaxNesting)
	}
	size := n.frameSize()
	if levels > 0 {
		size = 8 + levels*n.frameSize()
		if size > maxNestedEntry {
			return "", fmt.Errorf("%d levels of %d bytes (entry time and %d $entry parameters) take more than %d bytes per thread: nest fewer levels", levels, n.frameSize(), len(n.args), maxNestedEntry-8)
		}
	}
	name := probe + "_entry"
	if c.opts.SharedEntry {
		name = SharedEntryMap
	}
	ms := &ebpf.MapSpec{Name: name, Type: ebpf.Hash, KeySize: 4, ValueSize: uint32(size), MaxEntries: uint32(c.opts.MaxEntries)}
	if old, ok := spec.Maps[name]; ok && old.ValueSize != ms.ValueSize {
		return "", fmt.Errorf("return probes sharing one entry map must save as many $entry parameters: %d bytes here, %d before", ms.ValueSize, old.ValueSize)
	}
	spec.Maps[name] = ms
	return name, nil
}

// genNestedEntry generates the rest of the entry program of a return probe
// under Options.Nesting (after the prologue): it pushes the entry time and
// the parameters $entry() reads on the thread's stack of entries.
func (c *compiler) genNestedEntry(g *progGen, k *checker, entryMap string) (asm.Instructions, error) {
	levels, fs := c.opts.Nesting, k.entry.frameSize()
	key, frame, err := g.entryFrame(k)
	if err != nil {
		return nil, err
	}

	g.note("this thread's stack of entries, created empty")
	have := g.newLabel("stack")
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JNE.Imm(asm.R0, 0, have))
	size := 8 + levels*fs
	empty := g.push(size)
	for i := 0; i < size; i += 8 {
		g.emit(storeImm(asm.R10, empty+int16(i), 0, asm.DWord))
	}
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.stackAddr(asm.R3, empty)
	g.emit(asm.Mov.Imm(asm.R4, 1)) // BPF_NOEXIST
	g.call(asm.FnMapUpdateElem)
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.bind(have)
	g.note(fmt.Sprintf("push: depth + 1, the frame kept below depth %d", levels))
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
		asm.JGE.Imm(asm.R1, int32(levels), g.exit),
		asm.Mul.Imm(asm.R1, int32(fs)),
		asm.Add.Reg(asm.R0, asm.R1))
	for i := 0; i < fs; i += 8 {
		g.emit(asm.LoadMem(asm.R1, asm.R10, frame+int16(i), asm.DWord), asm.StoreMem(asm.R0, int16(8+i), asm.R1, asm.DWord))
	}
	insns := g.epilogue()
	if g.stackErr != nil {
		return nil, g.stackErr
	}
	return insns, nil
}

// nestedEntryPrologue is entryPrologue under Options.Nesting: it pops the
// thread's innermost entry and copies it to the stack; without one (the
// entry was missed) or deeper than levels, the event is dropped.
func (g *progGen) nestedEntryPrologue(entryMap string, n *entryNeeds, levels int) {
	fs := n.frameSize()
	key := g.push(8)
	g.latencyOff = g.push(8)
	g.note("pop this thread's innermost entry")
	g.call(asm.FnKtimeGetNs)
	g.emit(asm.StoreMem(asm.R10, g.latencyOff, asm.R0, asm.DWord))
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, g.exit),
		asm.Sub.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.JGE.Imm(asm.R1, int32(levels), g.exit),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Mul.Imm(asm.R1, int32(fs)),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, g.latencyOff, asm.DWord),
		asm.Sub.Reg(asm.R2, asm.R1),
		asm.StoreMem(asm.R10, g.latencyOff, asm.R2, asm.DWord))
	for i := range n.args {
		off := g.push(8)
		g.entryOff = append(g.entryOff, off)
		g.emit(asm.LoadMem(asm.R1, asm.R0, int16(16+8*i), asm.DWord), asm.StoreMem(asm.R10, off, asm.R1, asm.DWord))
	}
	done := g.newLabel("popped")
	g.note("the outermost call: the thread's stack goes")
	g.emit(asm.JNE.Imm(asm.R3, 0, done), asm.LoadMapPtr(asm.R1, 0).WithReference(entryMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
	g.bind(done)
}
