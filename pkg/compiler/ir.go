package compiler

// irOp is an operation of the typed intermediate form the checker produces
// and the code generator walks.
type irOp int

const (
	opConst    irOp = iota // val
	opCtx                  // load size bytes at context offset off
	opCtxRead              // bpf_probe_read_kernel 8 bytes at context+off (fentry pointers)
	opCtxAddr              // context + off: the address of a tracepoint field
	opDataLoc              // context + (u16)*(u32 *)(context + off): __data_loc data
	opEntry                // an entry value saved by the entry program: entry slot idx
	opLatency              // now - entry time
	opSpecial              // helper-backed variable: name
	opDeref                // read size bytes at x + off from memory space sp
	opBitfield             // x >> shift & mask, sign-extended if signed (x already loaded)
	opNeg                  // -x
	opCompl                // ~x
	opNot                  // !x
	opBin                  // x bin y, in type t
	opCmp                  // x bin y: 0 or 1
	opAnd                  // x && y
	opOr                   // x || y
	opConv                 // x converted to t
	opStrEq                // string str equals lit: 0 or 1
	opUSDTArg              // USDT argument idx, as the program's call sites lay it out
)

// ir is a node of the typed intermediate form. Every node yields a 64-bit
// value in a register, normalised to its type t: integers narrower than 64
// bits zero- or sign-extended.
type ir struct {
	op     irOp
	t      *ctype
	x, y   *ir
	val    uint64
	off    int
	size   int
	signed bool
	sp     space
	bin    string // opBin, opCmp: + - * / % << >> & | ^ == != < <= > >=
	shift  int    // opBitfield
	bits   int    // opBitfield
	idx    int    // opEntry
	name   string // opSpecial
	str    *strSrc
	lit    string
	src    string // the expression text, for the listing
}

// strSrc is where a string is read from.
type strSrc struct {
	comm bool // $COMM: bpf_get_current_comm
	addr *ir  // else: its address
	sp   space
	max  int // longest readable length in bytes (char arrays), 0: unbounded
}

func (e *ir) hasCall() bool {
	if e == nil {
		return false
	}
	switch e.op {
	case opCtxRead, opSpecial, opDeref, opStrEq, opUSDTArg:
		return true
	case opDataLoc:
		return false
	}
	return e.x.hasCall() || e.y.hasCall()
}

// isLeaf reports whether e can be computed into any register without
// touching others.
func (e *ir) isLeaf() bool {
	switch e.op {
	case opConst, opCtx, opEntry, opCtxAddr:
		return true
	}
	return false
}

func constIR(v uint64, t *ctype) *ir { return &ir{op: opConst, val: v, t: t} }
