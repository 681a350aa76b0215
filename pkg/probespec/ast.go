package probespec

import "strings"

// Kind is the kind of a probe: the first letter of a specifier.
type Kind byte

// The probe kinds.
const (
	Entry      Kind = 'p' // function entry: kprobe, fentry or uprobe
	Return     Kind = 'r' // function return: kretprobe, fexit or uretprobe
	Tracepoint Kind = 't' // kernel tracepoint
	USDT       Kind = 'u' // user statically defined tracepoint
)

func (k Kind) String() string {
	switch k {
	case Entry:
		return "entry"
	case Return:
		return "return"
	case Tracepoint:
		return "tracepoint"
	case USDT:
		return "usdt"
	}
	return "kind(" + string(k) + ")"
}

// Probe is where a specifier attaches: `kind:library:function(signature)`.
type Probe struct {
	Kind Kind
	// Library is the library or executable of a user function or USDT
	// probe ("c" for libc, a path), the category of a tracepoint, and
	// empty for a kernel function.
	Library string
	// Function is the function, tracepoint or USDT probe name.
	Function string
	// Params are the parameters the signature declares, in order.
	Params []Param
	// Signature tells whether a parenthesised signature was written, even
	// an empty one.
	Signature bool
	// LibraryPos, FunctionPos and SignaturePos are byte offsets in the
	// parsed text (SignaturePos is that of '(' or, without one, of the end
	// of the function name).
	LibraryPos, FunctionPos, SignaturePos int
	// End is the byte offset just past the probe point.
	End int
}

// User reports whether the probe is in user space (a library function or a
// USDT probe).
func (p *Probe) User() bool {
	return p.Kind == USDT || (p.Kind == Entry || p.Kind == Return) && p.Library != ""
}

// Param looks a parameter up by name.
func (p *Probe) Param(name string) (Param, int, bool) {
	for i, prm := range p.Params {
		if prm.Name == name {
			return prm, i, true
		}
	}
	return Param{}, -1, false
}

// Param is one parameter of a signature.
type Param struct {
	Name string
	Type Type
	Pos  int // byte offset of the name
}

// Type is a C type as written in a signature, a cast or a specifier's type
// list.
type Type struct {
	// Name is the base type, normalised: "int", "unsigned long", "u64",
	// "size_t", "struct file", "char", "void".
	Name string
	// Ptr is the number of '*'.
	Ptr int
	// Const and User record the qualifiers const and __user (user
	// memory, for kernel function parameters).
	Const, User bool
	// Pos and End delimit the type in the parsed text.
	Pos, End int
}

func (t Type) String() string {
	var b strings.Builder
	if t.Const {
		b.WriteString("const ")
	}
	b.WriteString(t.Name)
	if t.User {
		b.WriteString(" __user")
	}
	if t.Ptr > 0 {
		b.WriteString(" ")
		b.WriteString(strings.Repeat("*", t.Ptr))
	}
	return b.String()
}

// IsString reports whether the type is char * (bcc's marker for string
// values).
func (t Type) IsString() bool {
	return t.Ptr == 1 && (t.Name == "char" || t.Name == "unsigned char" || t.Name == "signed char")
}

// Expr is a node of an expression.
type Expr interface {
	// Pos is the byte offset where the node starts in the parsed text.
	Pos() int
	// End is the byte offset just past the node.
	End() int
}

// Ident is a name: a parameter, a tracepoint's args, a USDT argN.
type Ident struct {
	Name    string
	NamePos int
}

// Int is an integer or character literal.
type Int struct {
	Value uint64
	// Unsigned and Long record the literal's suffixes (u, l, ll).
	Unsigned, Long bool
	Lit            string
	LitPos         int
}

// String is a string literal.
type String struct {
	Value  string
	LitPos int
	LitEnd int
}

// Var is a special variable: $retval, $latency, $PID, $TID, $UID, $GID,
// $CPU, $COMM (Name without the '$'), or $entry(Param) when Name is "entry".
type Var struct {
	Name   string
	Param  string // for $entry
	VarPos int
	VarEnd int
}

// Unary is Op X for Op one of - + ! ~ * &.
type Unary struct {
	Op    string
	X     Expr
	OpPos int
}

// Binary is X Op Y.
type Binary struct {
	Op    string
	X, Y  Expr
	OpPos int
}

// Member is X->Name (Arrow) or X.Name.
type Member struct {
	X       Expr
	Name    string
	Arrow   bool
	NamePos int
}

// Index is X[I].
type Index struct {
	X, I   Expr
	RBrack int // offset of ']'
}

// Cast is (Type) X.
type Cast struct {
	Type   Type
	X      Expr
	LParen int
}

// Call is Func(Args...): STRCMP("literal", expr).
type Call struct {
	Func    string
	Args    []Expr
	FuncPos int
	RParen  int
}

// Paren is (X), kept so that positions and display text stay exact.
type Paren struct {
	X      Expr
	LParen int
	RParen int
}

func (e *Ident) Pos() int  { return e.NamePos }
func (e *Ident) End() int  { return e.NamePos + len(e.Name) }
func (e *Int) Pos() int    { return e.LitPos }
func (e *Int) End() int    { return e.LitPos + len(e.Lit) }
func (e *String) Pos() int { return e.LitPos }
func (e *String) End() int { return e.LitEnd }
func (e *Var) Pos() int    { return e.VarPos }
func (e *Var) End() int    { return e.VarEnd }
func (e *Unary) Pos() int  { return e.OpPos }
func (e *Unary) End() int  { return e.X.End() }
func (e *Binary) Pos() int { return e.X.Pos() }
func (e *Binary) End() int { return e.Y.End() }
func (e *Member) Pos() int { return e.X.Pos() }
func (e *Member) End() int { return e.NamePos + len(e.Name) }
func (e *Index) Pos() int  { return e.X.Pos() }
func (e *Index) End() int  { return e.RBrack + 1 }
func (e *Cast) Pos() int   { return e.LParen }
func (e *Cast) End() int   { return e.X.End() }
func (e *Call) Pos() int   { return e.FuncPos }
func (e *Call) End() int   { return e.RParen + 1 }
func (e *Paren) Pos() int  { return e.LParen }
func (e *Paren) End() int  { return e.RParen + 1 }

// Unparen strips parentheses around e.
func Unparen(e Expr) Expr {
	for {
		p, ok := e.(*Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}

// Walk calls fn for e and every node below it, parents first; fn returning
// false skips a node's children.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *Unary:
		Walk(e.X, fn)
	case *Binary:
		Walk(e.X, fn)
		Walk(e.Y, fn)
	case *Member:
		Walk(e.X, fn)
	case *Index:
		Walk(e.X, fn)
		Walk(e.I, fn)
	case *Cast:
		Walk(e.X, fn)
	case *Call:
		for _, a := range e.Args {
			Walk(a, fn)
		}
	case *Paren:
		Walk(e.X, fn)
	}
}
