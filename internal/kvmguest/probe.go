package kvmguest

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// CountTracepoints runs a guest with cfg and counts the events of each kvm
// tracepoint in events (kvm_exit, kvm_userspace_exit, ...) that this
// process fired meanwhile, so that tests can ask what a KVM backend reports
// before relying on it. It counts with a tiny BPF program per tracepoint
// rather than with perf counters: a BPF program attached to a tracepoint
// that returns 0 (as bpfscope's and bcc's do) hides the event from the
// tracepoint's perf counters, so a tool tested at the same time would make
// perf counters read 0.
func CountTracepoints(cfg Config, events ...string) (*Result, map[string]uint64, error) {
	counters := make(map[string]*ebpf.Map, len(events))
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, ev := range events {
		m, prog, err := newCounter(uint32(os.Getpid()))
		if err != nil {
			return nil, nil, fmt.Errorf("count kvm:%s: %w", ev, err)
		}
		closers = append(closers, m.Close, prog.Close)
		l, err := link.Tracepoint("kvm", ev, prog, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("attach to kvm:%s: %w", ev, err)
		}
		closers = append(closers, l.Close)
		counters[ev] = m
	}
	res, err := Run(cfg)
	if err != nil {
		return nil, nil, err
	}
	counts := make(map[string]uint64, len(events))
	for ev, m := range counters {
		var n uint64
		if err := m.Lookup(uint32(0), &n); err != nil {
			return nil, nil, fmt.Errorf("read count of kvm:%s: %w", ev, err)
		}
		counts[ev] = n
	}
	return res, counts, nil
}

// newCounter returns a one-slot array and a tracepoint program that adds 1
// to it for each event fired by process tgid.
func newCounter(tgid uint32) (*ebpf.Map, *ebpf.Program, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.TracePoint,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.JNE.Imm(asm.R0, int32(tgid), "out"),
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		},
	})
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("load counter: %w", err)
	}
	return m, prog, nil
}
