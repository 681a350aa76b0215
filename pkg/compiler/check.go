package compiler

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// checker type-checks the expressions of one probe and lowers them to ir.
type checker struct {
	c    *compiler
	text string
	h    *hook
	// entry records what a return probe needs from the entry program.
	entry entryNeeds
}

// entryNeeds is what a return probe's entry program saves, per thread.
type entryNeeds struct {
	latency bool
	args    []arg // saved in this order, 8 bytes each, after the timestamp
}

func (n *entryNeeds) needed() bool { return n.latency || len(n.args) > 0 }

func (n *entryNeeds) slot(a arg) int {
	for i, b := range n.args {
		if b.name == a.name {
			return i
		}
	}
	n.args = append(n.args, a)
	return len(n.args) - 1
}

// operand is a checked expression: a value, a place in memory or the
// context, or a string.
type operand struct {
	t   *ctype
	v   *ir       // a scalar value
	loc *location // a place (structs, arrays, fields not yet loaded)
	str *strSrc   // a string that is not in memory ($COMM)
	lit *probespec.String
	// tpArgs marks the tracepoint's "args".
	tpArgs   bool
	pos, end int
	text     string
}

// location is where a value lives.
type location struct {
	ctx     bool // in the context, at off
	dataLoc bool // __data_loc field at context offset off
	addr    *ir  // else at addr + off
	off     int
	sp      space
	bitOff  int
	bitSize int
}

func (k *checker) errorf(pos int, format string, args ...any) error {
	return probespec.Errorf(k.text, pos, format, args...)
}

func (k *checker) exprText(e probespec.Expr) string {
	return strings.TrimSpace(k.text[e.Pos():e.End()])
}

func (k *checker) check(e probespec.Expr) (operand, error) {
	op, err := k.check1(e)
	if err != nil {
		return op, err
	}
	op.pos, op.end, op.text = e.Pos(), e.End(), k.exprText(e)
	if op.v != nil && op.v.src == "" {
		op.v.src = op.text
	}
	return op, nil
}

func (k *checker) check1(e probespec.Expr) (operand, error) {
	switch e := e.(type) {
	case *probespec.Paren:
		return k.check(e.X)
	case *probespec.Int:
		return operand{t: literalType(e), v: constIR(e.Value, literalType(e))}, nil
	case *probespec.String:
		if strings.IndexByte(e.Value, 0) >= 0 {
			return operand{}, k.errorf(e.Pos(), "string literal holds a NUL character")
		}
		return operand{lit: e, t: ptrTo(tChar, spaceKernel)}, nil
	case *probespec.Ident:
		return k.ident(e)
	case *probespec.Var:
		return k.variable(e)
	case *probespec.Member:
		return k.member(e)
	case *probespec.Index:
		return k.index(e)
	case *probespec.Unary:
		return k.unary(e)
	case *probespec.Binary:
		return k.binary(e)
	case *probespec.Cast:
		return k.cast(e)
	case *probespec.Call:
		return k.call(e)
	}
	return operand{}, k.errorf(e.Pos(), "unsupported expression")
}

// literalType gives an integer literal its C type.
func literalType(e *probespec.Int) *ctype {
	v := e.Value
	decimal := !strings.HasPrefix(e.Lit, "0") || e.Lit == "0"
	switch {
	case e.Unsigned && !e.Long && v <= math.MaxUint32:
		return tUint
	case e.Unsigned:
		return tUlong
	case !e.Long && v <= math.MaxInt32:
		return tInt
	case !e.Long && !decimal && v <= math.MaxUint32:
		return tUint
	case v <= math.MaxInt64:
		return tLong
	}
	return tUlong
}

func (k *checker) ident(e *probespec.Ident) (operand, error) {
	h := k.h
	switch h.kind {
	case hookTracepoint:
		if e.Name == "args" {
			return operand{tpArgs: true}, nil
		}
		if f, ok := h.tp.field(e.Name); ok {
			return k.tpField(f), nil
		}
		return operand{}, k.errorf(e.Pos(), "unknown name %q: tracepoint %s:%s has args->FIELD for the fields %s", e.Name, h.tp.category, h.tp.name, strings.Join(h.tp.names(), ", "))
	case hookUSDT:
		return k.usdtArg(e)
	}
	a, ok := h.arg(e.Name)
	if !ok && k.c.opts.Trace {
		if op, ok, err := k.traceIdent(e); ok {
			return op, err
		}
	}
	if !ok {
		if len(h.args) == 0 {
			return operand{}, k.errorf(e.Pos(), "unknown name %q: the signature declares no parameters (write one, e.g. %s(int %s))", e.Name, h.probe.Function, e.Name)
		}
		return operand{}, k.errorf(e.Pos(), "unknown name %q: the parameters are %s", e.Name, strings.Join(h.argNames(), ", "))
	}
	if h.ret {
		return operand{}, k.errorf(e.Pos(), "%s is a parameter: a return probe reads it at entry with $entry(%s)", e.Name, e.Name)
	}
	return k.argOperand(e.Pos(), a)
}

// argOperand reads a parameter at function entry.
func (k *checker) argOperand(pos int, a arg) (operand, error) {
	if a.none != "" {
		return operand{}, k.errorf(pos, "parameter %s: %s", a.name, a.none)
	}
	v, err := k.argIR(pos, a)
	if err != nil {
		return operand{}, err
	}
	return operand{t: a.typ, v: v}, nil
}

func (k *checker) argIR(pos int, a arg) (*ir, error) {
	t := a.typ
	switch t.kind {
	case kStruct:
		return nil, k.errorf(pos, "parameter %s is a %s passed by value: not supported", a.name, t.name)
	case kOther, kVoid, kArray:
		return nil, k.errorf(pos, "parameter %s has type %s: not supported", a.name, t.name)
	}
	if a.read {
		return &ir{op: opCtxRead, off: a.off, t: t}, nil
	}
	if k.h.kind == hookFentry {
		// The context holds each parameter in a u64 slot.
		return normalize(&ir{op: opCtx, off: a.off, size: 8, t: tU64}, t), nil
	}
	return &ir{op: opCtx, off: a.off, size: t.size, signed: t.signed, t: t}, nil
}

// normalize converts x to t unless it already has t's width and sign.
func normalize(x *ir, t *ctype) *ir {
	if x.t.size == t.size && x.t.signed == t.signed && x.t.kind == t.kind {
		c := *x
		c.t = t
		return &c
	}
	return foldConv(&ir{op: opConv, x: x, t: t})
}

func (k *checker) tpField(f tpField) operand {
	if f.dataLoc {
		return operand{t: f.typ, loc: &location{dataLoc: true, off: f.off, sp: spaceKernel}}
	}
	return operand{t: f.typ, loc: &location{ctx: true, off: f.off, sp: spaceKernel}}
}

var specials = []string{"retval", "latency", "entry(param)", "PID", "TID", "UID", "GID", "CPU", "COMM"}

func (k *checker) variable(e *probespec.Var) (operand, error) {
	h := k.h
	needRet := func() error {
		if !h.ret {
			return k.errorf(e.Pos(), "$%s is only available in return probes (r:)", e.Name)
		}
		return nil
	}
	if name, ok := traceVars[e.Name]; ok && k.c.opts.Trace {
		e = &probespec.Var{Name: name, VarPos: e.VarPos, VarEnd: e.VarEnd}
	}
	switch e.Name {
	case "retval":
		if err := needRet(); err != nil {
			return operand{}, err
		}
		t := h.retType
		switch {
		case h.kind == hookFentry && h.retRead:
			return operand{t: t, v: &ir{op: opCtxRead, off: h.retOff, t: t}}, nil
		case h.kind == hookFentry:
			return operand{t: t, v: normalize(&ir{op: opCtx, off: h.retOff, size: 8, t: tU64}, t)}, nil
		}
		return operand{t: t, v: &ir{op: opCtx, off: h.retOff, size: t.size, signed: t.signed, t: t}}, nil
	case "latency":
		if err := needRet(); err != nil {
			return operand{}, err
		}
		k.entry.latency = true
		return operand{t: tU64, v: &ir{op: opLatency, t: tU64}}, nil
	case "entry":
		if err := needRet(); err != nil {
			return operand{}, err
		}
		a, ok := h.arg(e.Param)
		if !ok {
			if len(h.args) == 0 {
				return operand{}, k.errorf(e.Pos(), "$entry(%s): the signature declares no parameters", e.Param)
			}
			return operand{}, k.errorf(e.Pos(), "$entry(%s): no such parameter; the parameters are %s", e.Param, strings.Join(h.argNames(), ", "))
		}
		if h.kind == hookFentry {
			// fexit sees the parameters as they were at entry.
			return k.argOperand(e.Pos(), a)
		}
		if _, err := k.argOperand(e.Pos(), a); err != nil {
			return operand{}, err
		}
		idx := k.entry.slot(a)
		return operand{t: a.typ, v: &ir{op: opEntry, idx: idx, t: a.typ}}, nil
	case "PID", "TID", "UID", "GID", "CPU":
		return operand{t: tU32, v: &ir{op: opSpecial, name: e.Name, t: tU32}}, nil
	case "COMM":
		return operand{t: &ctype{kind: kArray, elem: tChar, n: 16, size: 16, name: "char[16]"}, str: &strSrc{comm: true, max: 16}}, nil
	}
	return operand{}, k.errorf(e.Pos(), "unknown variable $%s: there are $%s", e.Name, strings.Join(specials, ", $"))
}

func (k *checker) member(e *probespec.Member) (operand, error) {
	x, err := k.check(e.X)
	if err != nil {
		return x, err
	}
	if x.tpArgs {
		if !e.Arrow {
			return operand{}, k.errorf(e.NamePos-1, "expected '->' after args: write args->%s", e.Name)
		}
		f, ok := k.h.tp.field(e.Name)
		if !ok {
			return operand{}, k.errorf(e.NamePos, "unknown field %q of tracepoint %s:%s: the fields are %s", e.Name, k.h.tp.category, k.h.tp.name, strings.Join(k.h.tp.names(), ", "))
		}
		return k.tpField(f), nil
	}
	var base location
	var st *ctype
	if e.Arrow {
		if x.t == nil || x.t.kind != kPtr || x.t.elem.kind != kStruct {
			return operand{}, k.errorf(e.NamePos-2, "'->' needs a pointer to a struct; %s is %s", x.text, k.typeName(x))
		}
		v, err := k.rvalue(x)
		if err != nil {
			return operand{}, err
		}
		base, st = location{addr: v, sp: x.t.space}, x.t.elem
	} else {
		if x.t == nil || x.t.kind != kStruct || x.loc == nil {
			hint := ""
			if x.t != nil && x.t.kind == kPtr {
				hint = fmt.Sprintf(" (it is a pointer: write %s->%s)", x.text, e.Name)
			}
			return operand{}, k.errorf(e.NamePos-1, "'.' needs a struct; %s is %s%s", x.text, k.typeName(x), hint)
		}
		base, st = *x.loc, x.t
	}
	if st.comp == nil {
		return operand{}, k.errorf(e.NamePos, "%s has no description in kernel BTF: its members are unknown", st.name)
	}
	m, names, ok := findMember(st.comp, e.Name)
	if !ok {
		if len(names) > 24 {
			names = append(names[:24], "...")
		}
		return operand{}, k.errorf(e.NamePos, "%s has no member %q; its members are %s", st.name, e.Name, strings.Join(names, ", "))
	}
	loc := base
	loc.off += m.off
	if m.bitSize > 0 {
		loc.bitOff, loc.bitSize = m.bitOff, m.bitSize
	}
	t := m.typ
	if t.kind == kPtr && base.sp == spaceUser {
		t = ptrTo(t.elem, spaceUser)
	}
	if t.kind == kArray {
		c := *t
		c.space = base.sp
		t = &c
	}
	return operand{t: t, loc: &loc}, nil
}

func (k *checker) typeName(x operand) string {
	switch {
	case x.tpArgs:
		return "the tracepoint's arguments"
	case x.lit != nil:
		return "a string literal"
	case x.t == nil:
		return "untyped"
	}
	return x.t.name
}

func (k *checker) index(e *probespec.Index) (operand, error) {
	x, err := k.check(e.X)
	if err != nil {
		return x, err
	}
	i, err := k.check(e.I)
	if err != nil {
		return i, err
	}
	if x.t == nil || x.t.kind != kPtr && x.t.kind != kArray || x.lit != nil || x.str != nil {
		return operand{}, k.errorf(e.X.End(), "'[' needs an array or a pointer; %s is %s", x.text, k.typeName(x))
	}
	if x.t.elem.kind == kVoid || x.t.elem.size == 0 {
		return operand{}, k.errorf(e.X.End(), "cannot index %s: its elements have no size", x.t.name)
	}
	iv, err := k.rvalue(i)
	if err != nil {
		return operand{}, err
	}
	if !i.t.isInt() {
		return operand{}, k.errorf(e.I.Pos(), "an index must be an integer; %s is %s", i.text, i.t.name)
	}
	elem := x.t.elem
	if x.t.kind == kArray && x.loc != nil && iv.op == opConst && !x.loc.dataLoc {
		n := int64(iv.val)
		if x.t.n > 0 && (n < 0 || n >= int64(x.t.n)) {
			return operand{}, k.errorf(e.I.Pos(), "index %d out of bounds of %s", n, x.t.name)
		}
		loc := *x.loc
		loc.off += int(n) * elem.size
		return operand{t: elem, loc: &loc}, nil
	}
	base, err := k.rvalue(x) // decays arrays
	if err != nil {
		return operand{}, err
	}
	sp := x.t.space
	if x.loc != nil {
		sp = x.loc.sp
	}
	addr := foldBin("+", base, foldBin("*", normalize(iv, tLong), constIR(uint64(elem.size), tLong), tLong), tUlong)
	return operand{t: elem, loc: &location{addr: addr, sp: sp}}, nil
}

// rvalue returns x's value: loads places, decays arrays to pointers.
func (k *checker) rvalue(x operand) (*ir, error) {
	switch {
	case x.v != nil:
		return x.v, nil
	case x.lit != nil:
		return nil, k.errorf(x.pos, "a string literal can only be compared with a string: STRCMP(%s, expr) or expr == %s", x.text, x.text)
	case x.str != nil:
		return nil, k.errorf(x.pos, "%s is a string: compare it (STRCMP(\"...\", %s) or %s == \"...\") or collect it with type char*", x.text, x.text, x.text)
	case x.tpArgs:
		return nil, k.errorf(x.pos, "args is the tracepoint's record: write args->FIELD (fields: %s)", strings.Join(k.h.tp.names(), ", "))
	case x.loc == nil:
		return nil, k.errorf(x.pos, "%s has no value", x.text)
	}
	switch x.t.kind {
	case kInt, kPtr:
		v := k.load(*x.loc, x.t)
		v.src = x.text
		return v, nil
	case kArray:
		return k.address(*x.loc), nil
	case kStruct:
		return nil, k.errorf(x.pos, "%s is a %s: use one of its members", x.text, x.t.name)
	}
	return nil, k.errorf(x.pos, "%s has type %s: not supported", x.text, x.t.name)
}

// load reads a scalar of type t at loc.
func (k *checker) load(loc location, t *ctype) *ir {
	size := t.size
	if loc.bitSize > 0 {
		unit := 1
		for unit*8 < loc.bitOff+loc.bitSize {
			unit *= 2
		}
		raw := k.load(location{ctx: loc.ctx, addr: loc.addr, off: loc.off, sp: loc.sp}, intType("bits", unit, false))
		return &ir{op: opBitfield, x: raw, shift: loc.bitOff, bits: loc.bitSize, signed: t.signed, t: t}
	}
	if loc.ctx && k.h.ctxLoadable(loc.off, size) {
		return &ir{op: opCtx, off: loc.off, size: size, signed: t.signed, t: t}
	}
	if loc.ctx || loc.dataLoc {
		return &ir{op: opDeref, x: k.address(loc), size: size, signed: t.signed, sp: spaceKernel, t: t}
	}
	return &ir{op: opDeref, x: loc.addr, off: loc.off, size: size, signed: t.signed, sp: loc.sp, t: t}
}

// address returns the address of loc.
func (k *checker) address(loc location) *ir {
	switch {
	case loc.dataLoc:
		return &ir{op: opDataLoc, off: loc.off, t: tUlong}
	case loc.ctx:
		return &ir{op: opCtxAddr, off: loc.off, t: tUlong}
	}
	if loc.off == 0 {
		return loc.addr
	}
	return foldBin("+", loc.addr, constIR(uint64(loc.off), tLong), tUlong)
}

// stringOf returns where x's characters are: char arrays, pointers and
// integers taken as addresses (bcc's char* type), $COMM.
func (k *checker) stringOf(x operand) (*strSrc, error) {
	switch {
	case x.str != nil:
		return x.str, nil
	case x.lit != nil:
		return nil, k.errorf(x.pos, "a string literal is not a value to collect")
	case x.t != nil && x.t.kind == kArray && x.loc != nil:
		sp := x.loc.sp
		if x.loc.ctx || x.loc.dataLoc {
			sp = spaceKernel
		}
		return &strSrc{addr: k.address(*x.loc), sp: sp, max: x.t.n}, nil
	}
	v, err := k.rvalue(x)
	if err != nil {
		return nil, err
	}
	if !x.t.isScalar() {
		return nil, k.errorf(x.pos, "%s is %s, not a string", x.text, x.t.name)
	}
	sp := k.h.def
	if x.t.kind == kPtr {
		sp = x.t.space
	}
	return &strSrc{addr: v, sp: sp}, nil
}

func (k *checker) unary(e *probespec.Unary) (operand, error) {
	x, err := k.check(e.X)
	if err != nil {
		return x, err
	}
	switch e.Op {
	case "*":
		if x.t == nil || x.t.kind != kPtr && x.t.kind != kArray || x.lit != nil {
			return operand{}, k.errorf(e.OpPos, "'*' needs a pointer; %s is %s", x.text, k.typeName(x))
		}
		if x.t.elem.kind == kVoid {
			return operand{}, k.errorf(e.OpPos, "cannot dereference %s (%s): cast it first, e.g. *(u64 *)%s", x.text, x.t.name, x.text)
		}
		v, err := k.rvalue(x)
		if err != nil {
			return operand{}, err
		}
		sp := x.t.space
		if x.loc != nil && x.t.kind == kArray {
			sp = x.loc.sp
		}
		return operand{t: x.t.elem, loc: &location{addr: v, sp: sp}}, nil
	case "&":
		if x.loc == nil || x.loc.ctx || x.loc.dataLoc || x.loc.bitSize > 0 {
			return operand{}, k.errorf(e.OpPos, "'&' needs a struct member or array element in memory; %s is not one", x.text)
		}
		return operand{t: ptrTo(x.t, x.loc.sp), v: k.address(*x.loc)}, nil
	}
	v, err := k.rvalue(x)
	if err != nil {
		return operand{}, err
	}
	switch e.Op {
	case "!":
		if !x.t.isScalar() {
			return operand{}, k.errorf(e.OpPos, "'!' needs a number or a pointer; %s is %s", x.text, x.t.name)
		}
		return operand{t: tBool, v: fold(&ir{op: opNot, x: v, t: tBool})}, nil
	case "-", "~", "+":
		if !x.t.isInt() {
			return operand{}, k.errorf(e.OpPos, "'%s' needs an integer; %s is %s", e.Op, x.text, x.t.name)
		}
		t := promote(x.t)
		v = normalize(v, t)
		switch e.Op {
		case "-":
			v = fold(&ir{op: opNeg, x: v, t: t})
		case "~":
			v = fold(&ir{op: opCompl, x: v, t: t})
		}
		return operand{t: t, v: v}, nil
	}
	return operand{}, k.errorf(e.OpPos, "unsupported operator %q", e.Op)
}

// promote applies C's integer promotion.
func promote(t *ctype) *ctype {
	if t.kind == kInt && t.size < 4 {
		return tInt
	}
	return t
}

// arith applies C's usual arithmetic conversions.
func arith(a, b *ctype) *ctype {
	a, b = promote(a), promote(b)
	if a.signed == b.signed {
		if a.size >= b.size {
			return a
		}
		return b
	}
	u, s := a, b
	if a.signed {
		u, s = b, a
	}
	if u.size >= s.size {
		return u
	}
	return s
}

func (k *checker) binary(e *probespec.Binary) (operand, error) {
	x, err := k.check(e.X)
	if err != nil {
		return x, err
	}
	y, err := k.check(e.Y)
	if err != nil {
		return y, err
	}
	switch e.Op {
	case "==", "!=":
		if x.lit != nil || y.lit != nil {
			return k.strCompare(e, x, y)
		}
	}
	xv, err := k.rvalue(x)
	if err != nil {
		return operand{}, err
	}
	yv, err := k.rvalue(y)
	if err != nil {
		return operand{}, err
	}
	if !x.t.isScalar() {
		return operand{}, k.errorf(e.X.Pos(), "%s is %s: not a number", x.text, x.t.name)
	}
	if !y.t.isScalar() {
		return operand{}, k.errorf(e.Y.Pos(), "%s is %s: not a number", y.text, y.t.name)
	}
	switch e.Op {
	case "&&":
		return operand{t: tBool, v: fold(&ir{op: opAnd, x: xv, y: yv, t: tBool})}, nil
	case "||":
		return operand{t: tBool, v: fold(&ir{op: opOr, x: xv, y: yv, t: tBool})}, nil
	case "==", "!=", "<", "<=", ">", ">=":
		t := tUlong
		if x.t.isInt() && y.t.isInt() {
			t = arith(x.t, y.t)
		}
		return operand{t: tBool, v: fold(&ir{op: opCmp, bin: e.Op, x: normalize(xv, t), y: normalize(yv, t), t: tBool, signed: t.signed})}, nil
	}
	xp, yp := x.t.kind == kPtr, y.t.kind == kPtr
	switch {
	case (e.Op == "+" || e.Op == "-") && xp && !yp:
		return k.ptrArith(e, x, xv, yv)
	case e.Op == "+" && yp && !xp:
		return k.ptrArith(e, y, yv, xv)
	case e.Op == "-" && xp && yp:
		d := foldBin("-", normalize(xv, tLong), normalize(yv, tLong), tLong)
		if s := elemSize(x.t); s > 1 {
			d = foldBin("/", d, constIR(uint64(s), tLong), tLong)
		}
		return operand{t: tLong, v: d}, nil
	case xp || yp:
		// Other arithmetic on pointers works on their numeric value.
		xv, yv = normalize(xv, tUlong), normalize(yv, tUlong)
	}
	var t *ctype
	switch e.Op {
	case "<<", ">>":
		t = tUlong
		if x.t.isInt() {
			t = promote(x.t)
		}
		if yv.op == opConst && (int64(yv.val) < 0 || yv.val >= 64) {
			return operand{}, k.errorf(e.Y.Pos(), "shift by %d: out of range 0-63", int64(yv.val))
		}
		return operand{t: t, v: foldBin(e.Op, normalize(xv, t), normalize(yv, tUlong), t)}, nil
	case "+", "-", "*", "/", "%", "&", "|", "^":
		t = tUlong
		if x.t.isInt() && y.t.isInt() {
			t = arith(x.t, y.t)
		}
		if (e.Op == "/" || e.Op == "%") && yv.op == opConst && normalize(yv, t).val == 0 {
			return operand{}, k.errorf(e.Y.Pos(), "division by zero")
		}
		return operand{t: t, v: foldBin(e.Op, normalize(xv, t), normalize(yv, t), t)}, nil
	}
	return operand{}, k.errorf(e.OpPos, "unsupported operator %q", e.Op)
}

func elemSize(t *ctype) int {
	if t.elem == nil || t.elem.kind == kVoid || t.elem.size == 0 {
		return 1
	}
	return t.elem.size
}

func (k *checker) ptrArith(e *probespec.Binary, p operand, pv, iv *ir) (operand, error) {
	off := normalize(iv, tLong)
	if s := elemSize(p.t); s > 1 {
		off = foldBin("*", off, constIR(uint64(s), tLong), tLong)
	}
	t := p.t
	if t.kind == kArray {
		t = ptrTo(t.elem, t.space)
	}
	return operand{t: t, v: foldBin(e.Op, pv, off, t)}, nil
}

func (k *checker) strCompare(e *probespec.Binary, x, y operand) (operand, error) {
	lit, other := x, y
	if x.lit == nil {
		lit, other = y, x
	}
	if other.lit != nil {
		return operand{}, k.errorf(e.OpPos, "comparing two string literals")
	}
	v, err := k.strEq(lit, other)
	if err != nil {
		return operand{}, err
	}
	if e.Op == "!=" {
		v = fold(&ir{op: opNot, x: v, t: tBool})
	}
	return operand{t: tBool, v: v}, nil
}

func (k *checker) strEq(lit, s operand) (*ir, error) {
	src, err := k.stringOf(s)
	if err != nil {
		return nil, err
	}
	if len(lit.lit.Value) > maxStrcmp {
		return nil, k.errorf(lit.pos, "string literal of %d bytes: at most %d can be compared", len(lit.lit.Value), maxStrcmp)
	}
	if src.max > 0 && len(lit.lit.Value) >= src.max+1 && !src.comm {
		return constIR(0, tBool), nil
	}
	return &ir{op: opStrEq, str: src, lit: lit.lit.Value, t: tBool, src: s.text + " == " + strconv.Quote(lit.lit.Value)}, nil
}

// maxStrcmp bounds the literal of a string comparison (stack use).
const maxStrcmp = 128

func (k *checker) call(e *probespec.Call) (operand, error) {
	if e.Func != "STRCMP" {
		return operand{}, k.errorf(e.FuncPos, "unknown function %s: the only function is STRCMP(\"literal\", string)", e.Func)
	}
	if len(e.Args) != 2 {
		return operand{}, k.errorf(e.FuncPos, "STRCMP takes 2 arguments, a string literal and a string, got %d", len(e.Args))
	}
	lit, err := k.check(e.Args[0])
	if err != nil {
		return lit, err
	}
	if lit.lit == nil {
		return operand{}, k.errorf(e.Args[0].Pos(), "STRCMP's first argument must be a string literal, e.g. STRCMP(\"bash\", $COMM)")
	}
	s, err := k.check(e.Args[1])
	if err != nil {
		return s, err
	}
	if s.lit != nil {
		return operand{}, k.errorf(e.Args[1].Pos(), "STRCMP's second argument must be a string from the probe, not a literal")
	}
	v, err := k.strEq(lit, s)
	if err != nil {
		return operand{}, err
	}
	return operand{t: tBool, v: v}, nil
}

func (k *checker) cast(e *probespec.Cast) (operand, error) {
	x, err := k.check(e.X)
	if err != nil {
		return x, err
	}
	def := k.h.def
	if x.t != nil && x.t.kind == kPtr {
		def = x.t.space
	}
	t, err := k.c.types.resolve(e.Type, def)
	if err != nil {
		return operand{}, k.errorf(e.Type.Pos, "%v", err)
	}
	switch t.kind {
	case kInt, kPtr:
	default:
		return operand{}, k.errorf(e.Type.Pos, "cannot cast to %s: casts are to integer and pointer types", t.name)
	}
	v, err := k.rvalue(x)
	if err != nil {
		return operand{}, err
	}
	if !x.t.isScalar() && x.t.kind != kArray {
		return operand{}, k.errorf(e.X.Pos(), "cannot cast %s (%s) to %s", x.text, x.t.name, t.name)
	}
	if t.kind == kPtr {
		return operand{t: t, v: normalize(v, tUlong)}, nil
	}
	return operand{t: t, v: normalize(v, t)}, nil
}

// value checks a value to collect, as declared by typ (nil: the
// expression's own type). It returns either a scalar or a string.
func (k *checker) value(e probespec.Expr, typ *probespec.Type) (*ir, *strSrc, *ctype, error) {
	x, err := k.check(e)
	if err != nil {
		return nil, nil, nil, err
	}
	if typ == nil {
		if x.str != nil || x.t != nil && x.t.kind == kArray && x.t.isCharSeq() {
			s, err := k.stringOf(x)
			return nil, s, nil, err
		}
		v, err := k.rvalue(x)
		if err != nil {
			return nil, nil, nil, err
		}
		return v, nil, x.t, nil
	}
	if typ.IsString() {
		s, err := k.stringOf(x)
		return nil, s, nil, err
	}
	t, err := k.c.types.resolve(*typ, k.h.def)
	if err != nil {
		return nil, nil, nil, probespec.Errorf(k.text, typ.Pos, "%v", err)
	}
	if t.kind != kInt && t.kind != kPtr {
		return nil, nil, nil, probespec.Errorf(k.text, typ.Pos, "cannot collect values of type %s: use an integer type, a pointer or char*", t.name)
	}
	v, err := k.rvalue(x)
	if err != nil {
		return nil, nil, nil, err
	}
	if !x.t.isScalar() && x.t.kind != kArray {
		return nil, nil, nil, k.errorf(e.Pos(), "%s is %s: cannot collect it as %s", x.text, x.t.name, t.name)
	}
	if t.kind == kPtr {
		return normalize(v, tUlong), nil, t, nil
	}
	return normalize(v, t), nil, t, nil
}

// condition checks a filter.
func (k *checker) condition(e probespec.Expr) (*ir, error) {
	x, err := k.check(e)
	if err != nil {
		return nil, err
	}
	v, err := k.rvalue(x)
	if err != nil {
		return nil, err
	}
	if !x.t.isScalar() {
		return nil, k.errorf(e.Pos(), "a filter must be a number or a comparison; %s is %s", x.text, x.t.name)
	}
	return v, nil
}
