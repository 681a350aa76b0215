package compiler

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"
)

// maxStack is the BPF stack size.
const maxStack = 512

// emitter collects instructions with symbolic labels and source comments.
type emitter struct {
	insns   asm.Instructions
	label   string            // bound to the next instruction
	aliases map[string]string // labels bound to the same instruction
	comment string            // source text for the next instruction
	// comments are the source texts by instruction index, for the
	// listing (kept out of the instructions, which would otherwise
	// carry them to the kernel as incomplete BTF line info).
	comments map[int]string
	nlabels  int
	prefix   string

	sp       int // bytes of stack in use
	maxSP    int
	stackErr error
}

func newEmitter(prefix string) *emitter {
	return &emitter{prefix: prefix, aliases: map[string]string{}, comments: map[int]string{}}
}

func (m *emitter) emit(insns ...asm.Instruction) {
	for _, ins := range insns {
		if m.label != "" {
			ins = ins.WithSymbol(m.label)
			m.label = ""
		}
		if m.comment != "" {
			m.comments[len(m.insns)] = m.comment
			m.comment = ""
		}
		m.insns = append(m.insns, ins)
	}
}

// newLabel returns a fresh label name.
func (m *emitter) newLabel(what string) string {
	m.nlabels++
	return fmt.Sprintf("%s_%s%d", m.prefix, what, m.nlabels)
}

// bind places label at the next instruction emitted.
func (m *emitter) bind(label string) {
	if m.label != "" {
		m.aliases[label] = m.label
		return
	}
	m.label = label
}

func (m *emitter) note(src string) {
	if src != "" && m.comment == "" {
		m.comment = src
	}
}

// finish resolves aliased labels and drops unreachable instructions,
// which the verifier refuses (a branch on a constant leaves some).
func (m *emitter) finish() asm.Instructions {
	for i, ins := range m.insns {
		ref := ins.Reference()
		if ref == "" {
			continue
		}
		for {
			to, ok := m.aliases[ref]
			if !ok {
				break
			}
			ref = to
		}
		if ref != ins.Reference() {
			m.insns[i] = ins.WithReference(ref)
		}
	}
	return m.pruneDead()
}

// pruneDead removes the instructions no path from the first reaches.
func (m *emitter) pruneDead() asm.Instructions {
	at := map[string]int{}
	for i, ins := range m.insns {
		if s := ins.Symbol(); s != "" {
			at[s] = i
		}
	}
	reached := make([]bool, len(m.insns))
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		if i >= len(m.insns) || reached[i] {
			continue
		}
		reached[i] = true
		ins := m.insns[i]
		op := ins.OpCode
		if op.Class().IsJump() {
			switch op.JumpOp() {
			case asm.Exit:
				continue
			case asm.Call:
				work = append(work, i+1)
				continue
			case asm.Ja:
				work = append(work, at[ins.Reference()])
				continue
			}
			work = append(work, at[ins.Reference()])
		}
		work = append(work, i+1)
	}
	out := m.insns[:0:0]
	comments := map[int]string{}
	for i, ins := range m.insns {
		if reached[i] {
			if c, ok := m.comments[i]; ok {
				comments[len(out)] = c
			}
			out = append(out, ins)
		}
	}
	m.comments = comments
	return out
}

// push reserves n bytes (rounded up to 8) of stack and returns their
// offset from r10.
func (m *emitter) push(n int) int16 {
	n = (n + 7) &^ 7
	m.sp += n
	if m.sp > m.maxSP {
		m.maxSP = m.sp
	}
	if m.sp > maxStack && m.stackErr == nil {
		m.stackErr = fmt.Errorf("needs more than the %d bytes of BPF stack", maxStack)
	}
	return int16(-m.sp)
}

// pop releases the last n bytes pushed.
func (m *emitter) pop(n int) { m.sp -= (n + 7) &^ 7 }

func fitsImm(v uint64) bool {
	s := int64(v)
	return s >= math.MinInt32 && s <= math.MaxInt32
}

// movImm loads a 64-bit constant.
func (m *emitter) movImm(r asm.Register, v uint64) {
	if fitsImm(v) {
		m.emit(asm.Mov.Imm(r, int32(int64(v))))
	} else {
		m.emit(asm.LoadImm(r, int64(v), asm.DWord))
	}
}

// extend normalises register r, which holds a value of size bytes, to a
// 64-bit value of that width and signedness.
func (m *emitter) extend(r asm.Register, size int, signed bool) {
	if size >= 8 {
		return
	}
	shift := int32(64 - 8*size)
	switch {
	case signed:
		m.emit(asm.LSh.Imm(r, shift), asm.ArSh.Imm(r, shift))
	case size == 4:
		m.emit(asm.Mov.Reg32(r, r))
	default:
		m.emit(asm.And.Imm(r, int32(1<<(8*size)-1)))
	}
}

// stackAddr sets r to r10 + off.
func (m *emitter) stackAddr(r asm.Register, off int16) { m.addrOf(r, asm.R10, off) }

// addrOf sets r to base + off.
func (m *emitter) addrOf(r, base asm.Register, off int16) {
	m.emit(asm.Mov.Reg(r, base))
	if off != 0 {
		m.emit(asm.Add.Imm(r, int32(off)))
	}
}

func sizeOf(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}

// storeImm stores a 32-bit immediate, sign-extended to size, at dst+off
// (asm.StoreImm refuses DWord, which BPF_ST allows).
func storeImm(dst asm.Register, off int16, v int32, size asm.Size) asm.Instruction {
	return asm.Instruction{OpCode: asm.OpCode(asm.StClass).SetMode(asm.MemMode).SetSize(size), Dst: dst, Offset: off, Constant: int64(v)}
}
