package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// A Log2 probe may collect a second value, its total: the sum of that
// value over the events histogrammed, kept in one more slot of the
// histogram map, Log2TotalSlot (funclatency's "avg = N nsecs, total: N
// nsecs, count: N" line sums the latency in nanoseconds whatever the unit of
// the histogram). ReadLog2 leaves the slot out; ReadLog2Total reads it.

// Log2TotalSlot is the slot of a Log2 map holding its total.
const Log2TotalSlot = Log2Slots

// checkLog2 checks the values of a Log2 probe: one number, and optionally a
// number to total.
func checkLog2(p *Probe, vals []value) error {
	if len(vals) != 1 && len(vals) != 2 {
		return fmt.Errorf("a log2 histogram takes one value and optionally one to total, got %d", len(vals))
	}
	for i, v := range vals {
		if v.v == nil {
			return probespec.Errorf(p.Text, p.Values[i].Expr.Pos(), "a histogram needs a number; %s is a string", v.text)
		}
	}
	return nil
}

// log2Total adds the total value v to the total slot of histMap.
func (g *progGen) log2Total(v value, histMap string) error {
	g.note(v.text)
	if err := g.gen(v.v); err != nil {
		return err
	}
	val, key := g.push(8), g.push(8)
	g.emit(asm.StoreMem(asm.R10, val, asm.R0, asm.DWord),
		storeImm(asm.R10, key, Log2TotalSlot, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(histMap))
	g.stackAddr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, g.exit),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, val, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	return nil
}

// ReadLog2Total reads the total of a Log2 probe with two values, summed
// over CPUs, since load.
func ReadLog2Total(m *ebpf.Map) (uint64, error) {
	var per []uint64
	if err := m.Lookup(uint32(Log2TotalSlot), &per); err != nil {
		return 0, fmt.Errorf("read %s total: %w", m, err)
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum, nil
}
