package compiler

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// Registers with a fixed role in generated programs.
const (
	rCtx    = asm.R6 // the program's context
	rAddr   = asm.R7 // an address kept across a failed kernel read
	rRecord = asm.R9 // the record (map key) being built
)

// progGen generates one program.
type progGen struct {
	*emitter
	h    *hook
	exit string // label of the final "return 0"
	// entry values copied to the stack by a return probe's prologue.
	entryOff   []int16
	latencyOff int16
	// usdt is the argument layout of a USDT program's call sites.
	usdt *usdtGroup
}

func newProgGen(prefix string, h *hook) *progGen {
	g := &progGen{emitter: newEmitter(prefix), h: h}
	g.exit = g.newLabel("exit")
	return g
}

func (g *progGen) call(fn asm.BuiltinFunc) { g.emit(fn.Call()) }

// prologue saves the context and applies the pid and tid filters.
func (g *progGen) prologue(pid, tid int) {
	g.emit(asm.Mov.Reg(rCtx, asm.R1))
	if pid == 0 && tid == 0 {
		return
	}
	g.note(fmt.Sprintf("pid %d, tid %d filter", pid, tid))
	g.call(asm.FnGetCurrentPidTgid)
	if pid != 0 {
		g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.RSh.Imm(asm.R1, 32), asm.JNE.Imm(asm.R1, int32(pid), g.exit))
	}
	if tid != 0 {
		g.emit(asm.Mov.Reg32(asm.R1, asm.R0), asm.JNE.Imm(asm.R1, int32(tid), g.exit))
	}
}

// epilogue returns 0.
func (g *progGen) epilogue() asm.Instructions {
	g.bind(g.exit)
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	return g.finish()
}

// gen computes e into r0.
func (g *progGen) gen(e *ir) error {
	switch e.op {
	case opConst:
		g.movImm(asm.R0, e.val)
	case opCtx, opEntry, opCtxAddr:
		g.leaf(e, asm.R0)
	case opCtxRead:
		tmp := g.push(8)
		g.note(e.src)
		g.stackAddr(asm.R1, tmp)
		g.emit(asm.Mov.Imm(asm.R2, 8), asm.Mov.Reg(asm.R3, rCtx), asm.Add.Imm(asm.R3, int32(e.off)))
		g.call(asm.FnProbeReadKernel)
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
		g.pop(8)
	case opDataLoc:
		g.emit(asm.LoadMem(asm.R0, rCtx, int16(e.off), asm.Word), asm.And.Imm(asm.R0, 0xffff),
			asm.Mov.Reg(asm.R1, rCtx), asm.Add.Reg(asm.R1, asm.R0), asm.Mov.Reg(asm.R0, asm.R1))
	case opLatency:
		g.emit(asm.LoadMem(asm.R0, asm.R10, g.latencyOff, asm.DWord))
	case opSpecial:
		g.special(e.name)
	case opUSDTArg:
		return g.usdtArg(e.idx, e.t)
	case opDeref:
		if err := g.gen(e.x); err != nil {
			return err
		}
		if e.off != 0 {
			g.emit(asm.Add.Imm(asm.R0, int32(e.off)))
		}
		tmp := g.push(8)
		g.note(e.src)
		g.read(asm.R10, tmp, e.size, e.sp, false)
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, sizeOf(e.size)))
		g.extend(asm.R0, e.size, e.signed)
		g.pop(8)
	case opBitfield:
		if err := g.gen(e.x); err != nil {
			return err
		}
		if e.shift > 0 {
			g.emit(asm.RSh.Imm(asm.R0, int32(e.shift)))
		}
		if e.bits < 64 {
			g.emit(asm.LSh.Imm(asm.R0, int32(64-e.bits)))
			if e.signed {
				g.emit(asm.ArSh.Imm(asm.R0, int32(64-e.bits)))
			} else {
				g.emit(asm.RSh.Imm(asm.R0, int32(64-e.bits)))
			}
		}
		g.normalize(e.t)
	case opNeg:
		if err := g.gen(e.x); err != nil {
			return err
		}
		g.emit(asm.Neg.Imm(asm.R0, 0))
		g.normalize(e.t)
	case opCompl:
		if err := g.gen(e.x); err != nil {
			return err
		}
		g.emit(asm.Xor.Imm(asm.R0, -1))
		g.normalize(e.t)
	case opConv:
		if err := g.gen(e.x); err != nil {
			return err
		}
		g.normalize(e.t)
	case opBin:
		return g.binary(e)
	case opNot, opCmp, opAnd, opOr, opStrEq:
		// Conditions as values: 1 or 0.
		f, done := g.newLabel("false"), g.newLabel("done")
		if err := g.cond(e, f); err != nil {
			return err
		}
		g.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(done))
		g.bind(f)
		g.emit(asm.Mov.Imm(asm.R0, 0))
		g.bind(done)
	default:
		return fmt.Errorf("internal error: no code for ir op %d", e.op)
	}
	return nil
}

// leaf computes a leaf node into r without touching other registers.
func (g *progGen) leaf(e *ir, r asm.Register) {
	switch e.op {
	case opConst:
		g.movImm(r, e.val)
	case opCtx:
		g.emit(asm.LoadMem(r, rCtx, int16(e.off), sizeOf(e.size)))
		if e.signed {
			g.extend(r, e.size, true)
		}
	case opEntry:
		g.emit(asm.LoadMem(r, asm.R10, g.entryOff[e.idx], asm.DWord))
	case opCtxAddr:
		g.emit(asm.Mov.Reg(r, rCtx), asm.Add.Imm(r, int32(e.off)))
	}
}

// normalize truncates and extends r0 to t.
func (g *progGen) normalize(t *ctype) {
	if t.kind == kInt {
		g.extend(asm.R0, t.size, t.signed)
	}
}

func (g *progGen) special(name string) {
	switch name {
	case "PID":
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.RSh.Imm(asm.R0, 32))
	case "TID":
		g.call(asm.FnGetCurrentPidTgid)
		g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
	case "UID":
		g.call(asm.FnGetCurrentUidGid)
		g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
	case "GID":
		g.call(asm.FnGetCurrentUidGid)
		g.emit(asm.RSh.Imm(asm.R0, 32))
	case "CPU":
		g.call(asm.FnGetSmpProcessorId)
		g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
	}
}

// read copies size bytes from the address in r0 to base+off (base r10 or
// the record), with the helper for sp; strings stop at their NUL.
func (g *progGen) read(base asm.Register, off int16, size int, sp space, str bool) {
	kernel, user := asm.FnProbeReadKernel, asm.FnProbeReadUser
	if str {
		kernel, user = asm.FnProbeReadKernelStr, asm.FnProbeReadUserStr
	}
	fn := kernel
	if sp == spaceUser {
		fn = user
	}
	setup := func() {
		g.addrOf(asm.R1, base, off)
		g.emit(asm.Mov.Imm(asm.R2, int32(size)))
	}
	if sp != spaceAny {
		g.emit(asm.Mov.Reg(asm.R3, asm.R0))
		setup()
		g.call(fn)
		return
	}
	// Kernel memory first; user memory if that fails.
	done := g.newLabel("read")
	g.emit(asm.Mov.Reg(rAddr, asm.R0), asm.Mov.Reg(asm.R3, asm.R0))
	setup()
	g.call(kernel)
	g.emit(asm.JSGE.Imm(asm.R0, 0, done))
	g.emit(asm.Mov.Reg(asm.R3, rAddr))
	setup()
	g.call(user)
	g.bind(done)
}

// operands computes x into r0 and y into r1, or returns y as an immediate.
func (g *progGen) operands(x, y *ir) (imm int32, isImm bool, err error) {
	if err := g.gen(x); err != nil {
		return 0, false, err
	}
	switch {
	case y.op == opConst && fitsImm(y.val):
		return int32(int64(y.val)), true, nil
	case y.isLeaf():
		g.leaf(y, asm.R1)
		return 0, false, nil
	}
	tmp := g.push(8)
	g.emit(asm.StoreMem(asm.R10, tmp, asm.R0, asm.DWord))
	if err := g.gen(y); err != nil {
		return 0, false, err
	}
	g.emit(asm.Mov.Reg(asm.R1, asm.R0), asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
	g.pop(8)
	return 0, false, nil
}

var aluOps = map[string]asm.ALUOp{
	"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
	"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh,
}

func (g *progGen) binary(e *ir) error {
	imm, isImm, err := g.operands(e.x, e.y)
	if err != nil {
		return err
	}
	op := aluOps[e.bin]
	if e.bin == ">>" && e.signed {
		op = asm.ArSh
	}
	if (e.bin == "/" || e.bin == "%") && e.signed {
		// Without the v4 signed division: divide magnitudes, then
		// fix the sign (of the quotient: the operands' signs differ;
		// of the remainder: the dividend's).
		if isImm {
			g.movImm(asm.R1, uint64(int64(imm)))
		}
		pos1, pos2, done := g.newLabel("pos"), g.newLabel("pos"), g.newLabel("sign")
		g.emit(asm.Mov.Imm(asm.R2, 0),
			asm.JSGE.Imm(asm.R0, 0, pos1), asm.Neg.Imm(asm.R0, 0), asm.Mov.Imm(asm.R2, 1))
		g.bind(pos1)
		g.emit(asm.JSGE.Imm(asm.R1, 0, pos2), asm.Neg.Imm(asm.R1, 0))
		if e.bin == "/" {
			g.emit(asm.Xor.Imm(asm.R2, 1))
		}
		g.bind(pos2)
		g.emit(op.Reg(asm.R0, asm.R1), asm.JEq.Imm(asm.R2, 0, done), asm.Neg.Imm(asm.R0, 0))
		g.bind(done)
		g.normalize(e.t)
		return nil
	}
	if isImm && !((e.bin == "/" || e.bin == "%") && imm == 0) {
		g.emit(op.Imm(asm.R0, imm))
	} else {
		if isImm {
			g.movImm(asm.R1, uint64(int64(imm)))
		}
		g.emit(op.Reg(asm.R0, asm.R1))
	}
	g.normalize(e.t)
	return nil
}

// jumpOps maps comparisons to jumps, unsigned and signed.
var jumpOps = map[string][2]asm.JumpOp{
	"==": {asm.JEq, asm.JEq}, "!=": {asm.JNE, asm.JNE},
	"<": {asm.JLT, asm.JSLT}, "<=": {asm.JLE, asm.JSLE},
	">": {asm.JGT, asm.JSGT}, ">=": {asm.JGE, asm.JSGE},
}

var negated = map[string]string{"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}

// cond jumps to f when e is false and falls through when it is true.
func (g *progGen) cond(e *ir, f string) error { return g.branch(e, f, false) }

// branch jumps to target when e's truth equals when, else falls through.
func (g *progGen) branch(e *ir, target string, when bool) error {
	switch e.op {
	case opConst:
		if (e.val != 0) == when {
			g.emit(asm.Ja.Label(target))
		}
		return nil
	case opNot:
		return g.branch(e.x, target, !when)
	case opAnd, opOr:
		// && jumps out on the first false operand, || on the first
		// true one.
		short := e.op == opOr // the operand value that decides
		if short == when {
			if err := g.branch(e.x, target, when); err != nil {
				return err
			}
			return g.branch(e.y, target, when)
		}
		skip := g.newLabel("skip")
		if err := g.branch(e.x, skip, !when); err != nil {
			return err
		}
		if err := g.branch(e.y, target, when); err != nil {
			return err
		}
		g.bind(skip)
		return nil
	case opCmp:
		op := e.bin
		if !when {
			op = negated[op]
		}
		imm, isImm, err := g.operands(e.x, e.y)
		if err != nil {
			return err
		}
		j := jumpOps[op][0]
		if e.signed {
			j = jumpOps[op][1]
		}
		if isImm {
			g.emit(j.Imm(asm.R0, imm, target))
		} else {
			g.emit(j.Reg(asm.R0, asm.R1, target))
		}
		return nil
	case opStrEq:
		return g.strEq(e, target, when)
	}
	if err := g.gen(e); err != nil {
		return err
	}
	if when {
		g.emit(asm.JNE.Imm(asm.R0, 0, target))
	} else {
		g.emit(asm.JEq.Imm(asm.R0, 0, target))
	}
	return nil
}

// strEq compares a string with a literal: the string is read into a zeroed
// buffer two bytes longer than the literal, so that a longer string
// differs at the literal's NUL, and compared 8 bytes at a time.
func (g *progGen) strEq(e *ir, target string, when bool) error {
	lit := e.lit
	src := e.str
	size := len(lit) + 2
	if src.comm {
		size = 16
	}
	size = (size + 7) &^ 7
	buf := g.push(size)
	g.note(e.src)
	for i := 0; i < size; i += 8 {
		g.emit(storeImm(asm.R10, buf+int16(i), 0, asm.DWord))
	}
	if src.comm {
		g.stackAddr(asm.R1, buf)
		g.emit(asm.Mov.Imm(asm.R2, 16))
		g.call(asm.FnGetCurrentComm)
	} else {
		if err := g.gen(src.addr); err != nil {
			return err
		}
		n := len(lit) + 2
		if src.max > 0 {
			n = min(n, src.max)
		}
		g.read(asm.R10, buf, n, src.sp, true)
	}
	want := make([]byte, size)
	copy(want, lit)
	differ := target
	if when {
		differ = g.newLabel("differ")
	}
	for i := 0; i < size; i += 8 {
		g.emit(asm.LoadMem(asm.R1, asm.R10, buf+int16(i), asm.DWord))
		w := binary.LittleEndian.Uint64(want[i:])
		if fitsImm(w) {
			g.emit(asm.JNE.Imm(asm.R1, int32(int64(w)), differ))
		} else {
			g.emit(asm.LoadImm(asm.R2, int64(w), asm.DWord), asm.JNE.Reg(asm.R1, asm.R2, differ))
		}
	}
	if when {
		g.emit(asm.Ja.Label(target))
		g.bind(differ)
	}
	g.pop(size)
	return nil
}
