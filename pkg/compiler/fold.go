package compiler

// normConst truncates v to t's width and extends it back to 64 bits by
// t's signedness, as the generated code normalises registers.
func normConst(v uint64, t *ctype) uint64 {
	size := t.size
	if t.kind == kPtr || size >= 8 || size <= 0 {
		return v
	}
	bits := uint(size * 8)
	v &= 1<<bits - 1
	if t.signed && v&(1<<(bits-1)) != 0 {
		v |= ^uint64(0) << bits
	}
	return v
}

func foldConv(e *ir) *ir {
	if e.x.op == opConst {
		return constIR(normConst(e.x.val, e.t), e.t)
	}
	return e
}

func foldBin(op string, x, y *ir, t *ctype) *ir {
	return fold(&ir{op: opBin, bin: op, x: x, y: y, t: t, signed: t.signed})
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// fold evaluates e if its operands are constants.
func fold(e *ir) *ir {
	switch e.op {
	case opNot, opNeg, opCompl:
		if e.x.op != opConst {
			return e
		}
		v := e.x.val
		switch e.op {
		case opNot:
			return constIR(b2u(v == 0), e.t)
		case opNeg:
			return constIR(normConst(-v, e.t), e.t)
		default:
			return constIR(normConst(^v, e.t), e.t)
		}
	case opAnd, opOr:
		// Operands have no side effects, so either may decide.
		decides := e.op == opOr // the operand value that decides
		for _, x := range []*ir{e.x, e.y} {
			if x.op == opConst && (x.val != 0) == decides {
				return constIR(b2u(decides), e.t)
			}
		}
		switch {
		case e.x.op == opConst && e.y.op == opConst:
			return constIR(b2u(e.y.val != 0), e.t)
		case e.x.op == opConst:
			return truth(e.y, e.t)
		case e.y.op == opConst:
			return truth(e.x, e.t)
		}
		return e
	case opCmp:
		if e.x.op != opConst || e.y.op != opConst {
			return e
		}
		a, b := e.x.val, e.y.val
		var r bool
		switch e.bin {
		case "==":
			r = a == b
		case "!=":
			r = a != b
		case "<":
			r = e.signed && int64(a) < int64(b) || !e.signed && a < b
		case "<=":
			r = e.signed && int64(a) <= int64(b) || !e.signed && a <= b
		case ">":
			r = e.signed && int64(a) > int64(b) || !e.signed && a > b
		case ">=":
			r = e.signed && int64(a) >= int64(b) || !e.signed && a >= b
		}
		return constIR(b2u(r), e.t)
	case opBin:
		if e.x.op != opConst || e.y.op != opConst {
			return e
		}
		a, b := e.x.val, e.y.val
		var r uint64
		switch e.bin {
		case "+":
			r = a + b
		case "-":
			r = a - b
		case "*":
			r = a * b
		case "/":
			switch {
			case b == 0:
				r = 0
			case e.signed:
				r = uint64(int64(a) / int64(b))
			default:
				r = a / b
			}
		case "%":
			switch {
			case b == 0:
				r = a
			case e.signed:
				r = uint64(int64(a) % int64(b))
			default:
				r = a % b
			}
		case "&":
			r = a & b
		case "|":
			r = a | b
		case "^":
			r = a ^ b
		case "<<":
			r = a << (b & 63)
		case ">>":
			if e.signed {
				r = uint64(int64(a) >> (b & 63))
			} else {
				r = a >> (b & 63)
			}
		}
		return constIR(normConst(r, e.t), e.t)
	}
	return e
}

// truth is x != 0 as 0 or 1.
func truth(x *ir, t *ctype) *ir {
	return &ir{op: opCmp, bin: "!=", x: x, y: constIR(0, x.t), t: t}
}
