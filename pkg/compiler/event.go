package compiler

import (
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// EventHeader starts every record an Emit probe sends.
type EventHeader struct {
	// Time is bpf_ktime_get_ns() at the event, if Options.Header asks
	// for it (else 0).
	Time uint64
	// PidTgid is the process id (tgid) << 32 | the thread id.
	PidTgid uint64
	// CPU is the event's CPU, if Options.Header asks for it (else 0).
	CPU uint32
	// Probe is the probe's index in the list given to Compile.
	Probe uint32
	Comm  [16]byte
	// KernelStack and UserStack are ids in StacksMap, or negative
	// (-1: not asked for; -errno: not recorded).
	KernelStack, UserStack int64
}

// HeaderFields selects the EventHeader fields that cost a helper call
// each; the others are always recorded.
type HeaderFields struct {
	Time, CPU bool
}

// EventHeaderSize is the size of EventHeader: the offset of the first value.
const EventHeaderSize = 56

// Names of the maps an Emit collection shares: those of
// bpf/include/events.bpf.h, which pkg/loader configures (ring buffer or
// perf buffer) and Object.OpenEvents reads, and the stack traces.
const (
	EventsMap  = "events"
	RingMap    = "events_rb"
	DroppedMap = "events_dropped"
	StacksMap  = "stacks"
	// rodata holds use_ringbuf, which pkg/loader sets before load; the
	// verifier drops the branch not taken.
	rodata = ".rodata"
)

// maxEventSize bounds an event record.
const maxEventSize = 8192

// stackEntries is the size of the stack trace map.
const stackEntries = 4096

// eventMaps adds the event stream maps, once.
func (c *compiler) eventMaps(spec *ebpf.CollectionSpec) {
	if _, ok := spec.Maps[EventsMap]; ok {
		return
	}
	spec.Maps[EventsMap] = &ebpf.MapSpec{Name: EventsMap, Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4}
	spec.Maps[RingMap] = &ebpf.MapSpec{Name: RingMap, Type: ebpf.RingBuf, MaxEntries: 4096}
	spec.Maps[DroppedMap] = &ebpf.MapSpec{Name: DroppedMap, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}
	spec.Maps[rodata] = &ebpf.MapSpec{Name: rodata, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1,
		Flags: unix.BPF_F_RDONLY_PROG, Contents: []ebpf.MapKV{{Key: uint32(0), Value: make([]byte, 8)}}}
	if spec.Variables == nil {
		spec.Variables = map[string]*ebpf.VariableSpec{}
	}
	spec.Variables["use_ringbuf"] = &ebpf.VariableSpec{Name: "use_ringbuf", SectionName: rodata, Offset: 0, Value: []byte{0}}
	if c.opts.KernelStacks || c.opts.UserStacks {
		spec.Maps[StacksMap] = &ebpf.MapSpec{Name: StacksMap, Type: ebpf.StackTrace, KeySize: 4, ValueSize: 127 * 8, MaxEntries: stackEntries}
	}
}

// index returns the probe index of a name "pN".
func (c *compiler) index(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "p"))
	return n
}

// event builds an Emit record and sends it.
func (g *progGen) event(vals []value, l Layout, scratchMap string, probe int, o *Options) error {
	kstack, ustack := o.KernelStacks, o.UserStacks
	if err := g.record(vals, l, scratchMap); err != nil {
		return err
	}
	g.note("event header")
	if o.Header.Time {
		g.call(asm.FnKtimeGetNs)
		g.emit(asm.StoreMem(rRecord, 0, asm.R0, asm.DWord))
	}
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.StoreMem(rRecord, 8, asm.R0, asm.DWord))
	if o.Header.CPU {
		g.call(asm.FnGetSmpProcessorId)
		g.emit(asm.StoreMem(rRecord, 16, asm.R0, asm.Word))
	}
	g.emit(storeImm(rRecord, 20, int32(probe), asm.Word))
	g.addrOf(asm.R1, rRecord, 24)
	g.emit(asm.Mov.Imm(asm.R2, 16))
	g.call(asm.FnGetCurrentComm)
	for i, want := range []bool{kstack, ustack} {
		off := int16(40 + 8*i)
		if !want {
			g.emit(storeImm(rRecord, off, -1, asm.DWord))
			continue
		}
		flags := int32(0)
		if i == 1 {
			flags = unix.BPF_F_USER_STACK
		}
		g.emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMapPtr(asm.R2, 0).WithReference(StacksMap), asm.Mov.Imm(asm.R3, flags))
		g.call(asm.FnGetStackid)
		g.emit(asm.StoreMem(rRecord, off, asm.R0, asm.DWord))
	}
	g.note("submit: ring buffer or perf buffer, as use_ringbuf says")
	perf := g.newLabel("perf")
	g.emit(asm.LoadMapValue(asm.R1, 0, 0).WithReference(rodata), asm.LoadMem(asm.R1, asm.R1, 0, asm.Byte), asm.JEq.Imm(asm.R1, 0, perf))
	g.emit(asm.LoadMapPtr(asm.R1, 0).WithReference(RingMap), asm.Mov.Reg(asm.R2, rRecord), asm.Mov.Imm(asm.R3, int32(l.Size)), asm.Mov.Imm(asm.R4, 0))
	g.call(asm.FnRingbufOutput)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	// The ring buffer drops silently: count.
	dropped := g.newLabel("dropped")
	g.bind(dropped)
	zero := g.push(8)
	g.emit(storeImm(asm.R10, zero, 0, asm.Word), asm.LoadMapPtr(asm.R1, 0).WithReference(DroppedMap))
	g.stackAddr(asm.R2, zero)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit))
	g.increment()
	g.emit(asm.Ja.Label(g.exit))
	g.bind(perf)
	g.emit(asm.Mov.Reg(asm.R1, rCtx), asm.LoadMapPtr(asm.R2, 0).WithReference(EventsMap))
	g.movImm(asm.R3, 0xffffffff) // BPF_F_CURRENT_CPU
	g.emit(asm.Mov.Reg(asm.R4, rRecord), asm.Mov.Imm(asm.R5, int32(l.Size)))
	g.call(asm.FnPerfEventOutput)
	// The kernel reports perf buffer overruns only with the next sample
	// that fits: count them as the ring buffer's (events.bpf.h).
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit), asm.Ja.Label(dropped))
	return nil
}
