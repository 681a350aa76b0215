package kvm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A print fmt is a C format string and argument expressions, as written in
// TP_printk after preprocessing: "vcpu %u reason %s", REC->vcpu_id,
// (REC->isa == 1) ? __print_symbolic(REC->exit_reason & 0xffff, { 0,
// "EXCEPTION_NMI" }, ...) : .... This file parses the C subset those use
// into a small syntax tree.

// Expr is a node of a print fmt argument.
type Expr interface{ expr() }

type (
	// Num is an integer literal.
	Num struct{ Val int64 }
	// Str is a string literal, or adjacent literals joined.
	Str struct{ Val string }
	// Ident is a bare identifier.
	Ident struct{ Name string }
	// RecField is REC->Name, a field of the record.
	RecField struct{ Name string }
	// Unary is Op X, with Op one of - ~ ! + * &.
	Unary struct {
		Op string
		X  Expr
	}
	// Binary is X Op Y.
	Binary struct {
		Op   string
		X, Y Expr
	}
	// Cond is C ? T : F.
	Cond struct{ C, T, F Expr }
	// Call is Fn(Args...).
	Call struct {
		Fn   string
		Args []Expr
	}
	// List is an initializer { Elems... }.
	List struct{ Elems []Expr }
	// Cast is (Type)X.
	Cast struct {
		Type string
		X    Expr
	}
	// Member is X.Name or X->Name (other than REC->).
	Member struct {
		X     Expr
		Name  string
		Arrow bool
	}
	// Index is X[I].
	Index struct{ X, I Expr }
)

func (Num) expr()      {}
func (Str) expr()      {}
func (Ident) expr()    {}
func (RecField) expr() {}
func (Unary) expr()    {}
func (Binary) expr()   {}
func (Cond) expr()     {}
func (Call) expr()     {}
func (List) expr()     {}
func (Cast) expr()     {}
func (Member) expr()   {}
func (Index) expr()    {}

// PrintFmt is a parsed print fmt.
type PrintFmt struct {
	Format string
	Args   []Expr
}

// maxDepth bounds the parser's recursion, against hostile input.
const maxDepth = 200

// ParsePrintFmt parses the text after "print fmt: " of a format file.
func ParsePrintFmt(s string) (*PrintFmt, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind != tokStr {
		return nil, errors.New("print fmt: does not start with a format string")
	}
	var pf PrintFmt
	pf.Format = p.next().text
	for p.peek().kind == tokStr {
		pf.Format += p.next().text
	}
	for p.peek().text == "," {
		p.next()
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		pf.Args = append(pf.Args, e)
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("print fmt: unexpected %q at offset %d", t.text, t.pos)
	}
	return &pf, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokNum
	tokStr
	tokIdent
	tokPunct
)

type token struct {
	kind tokKind
	text string // for tokStr the unquoted value
	num  int64
	pos  int
}

// puncts are the operators, longest first.
var puncts = []string{
	"<<", ">>", "==", "!=", "<=", ">=", "&&", "||", "->",
	"(", ")", "{", "}", "[", "]", ",", "?", ":", "+", "-", "*", "/", "%",
	"&", "|", "^", "~", "!", "<", ">", ".",
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			v, n, err := lexString(s[i:])
			if err != nil {
				return nil, fmt.Errorf("print fmt: offset %d: %w", i, err)
			}
			toks = append(toks, token{kind: tokStr, text: v, pos: i})
			i += n
		case c == '\'':
			v, n, err := lexChar(s[i:])
			if err != nil {
				return nil, fmt.Errorf("print fmt: offset %d: %w", i, err)
			}
			toks = append(toks, token{kind: tokNum, num: v, text: s[i : i+n], pos: i})
			i += n
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isIdentRune(rune(s[j]))) {
				j++
			}
			lit := s[i:j]
			v, err := parseIntLit(lit)
			if err != nil {
				return nil, fmt.Errorf("print fmt: offset %d: %w", i, err)
			}
			toks = append(toks, token{kind: tokNum, num: v, text: lit, pos: i})
			i = j
		case isIdentRune(rune(c)):
			j := i
			for j < len(s) && isIdentRune(rune(s[j])) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: s[i:j], pos: i})
			i = j
		default:
			matched := false
			for _, p := range puncts {
				if strings.HasPrefix(s[i:], p) {
					toks = append(toks, token{kind: tokPunct, text: p, pos: i})
					i += len(p)
					matched = true
					break
				}
			}
			if !matched {
				return nil, fmt.Errorf("print fmt: offset %d: unexpected character %q", i, c)
			}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(s)}), nil
}

// lexString reads a C string literal at the start of s; it returns the
// value and the length of the literal.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, errors.New("unterminated string")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, errors.New("unterminated string")
}

func lexChar(s string) (int64, int, error) {
	if len(s) >= 3 && s[1] != '\\' && s[2] == '\'' {
		return int64(s[1]), 3, nil
	}
	if len(s) >= 4 && s[1] == '\\' && s[3] == '\'' {
		switch s[2] {
		case 'n':
			return '\n', 4, nil
		case 't':
			return '\t', 4, nil
		case '0':
			return 0, 4, nil
		default:
			return int64(s[2]), 4, nil
		}
	}
	return 0, 0, errors.New("bad character literal")
}

// parseIntLit parses a C integer literal with optional u/l suffixes.
func parseIntLit(lit string) (int64, error) {
	s := strings.TrimRight(lit, "uUlL")
	if s == "" {
		return 0, fmt.Errorf("bad number %q", lit)
	}
	var (
		v   uint64
		err error
	)
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		v, err = strconv.ParseUint(s[2:], 16, 64)
	case len(s) > 1 && s[0] == '0':
		v, err = strconv.ParseUint(s[1:], 8, 64)
	default:
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("bad number %q", lit)
	}
	return int64(v), nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) expect(s string) error {
	if t := p.next(); t.text != s || t.kind != tokPunct {
		return fmt.Errorf("print fmt: offset %d: want %q, have %q", t.pos, s, t.text)
	}
	return nil
}

// binary operator precedences, C's, lowest first.
var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
	"<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

// expr parses a conditional expression with binary operators of at least
// precedence minPrec.
func (p *parser) expr(minPrec int) (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("print fmt: nested too deeply")
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := precedence[t.text]
		if t.kind != tokPunct || !ok || prec < minPrec {
			break
		}
		p.next()
		y, err := p.expr(prec + 1)
		if err != nil {
			return nil, err
		}
		x = Binary{Op: t.text, X: x, Y: y}
	}
	if minPrec == 0 && p.peek().text == "?" && p.peek().kind == tokPunct {
		p.next()
		t, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		f, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		x = Cond{C: x, T: t, F: f}
	}
	return x, nil
}

func (p *parser) unary() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("print fmt: nested too deeply")
	}
	t := p.peek()
	if t.kind == tokPunct {
		switch t.text {
		case "-", "~", "!", "+", "*", "&":
			p.next()
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return Unary{Op: t.text, X: x}, nil
		case "(":
			if typ, ok := p.castType(); ok {
				x, err := p.unary()
				if err != nil {
					return nil, err
				}
				return Cast{Type: typ, X: x}, nil
			}
		}
	}
	return p.postfix()
}

// typeWords start a cast's type name.
var typeWords = map[string]bool{
	"unsigned": true, "signed": true, "int": true, "long": true, "short": true, "char": true,
	"bool": true, "_Bool": true, "void": true, "struct": true, "enum": true, "union": true, "const": true,
	"u8": true, "u16": true, "u32": true, "u64": true, "s8": true, "s16": true, "s32": true, "s64": true,
	"__u8": true, "__u16": true, "__u32": true, "__u64": true, "__s8": true, "__s16": true, "__s32": true, "__s64": true,
	"size_t": true, "ssize_t": true, "uintptr_t": true, "gfn_t": true, "gpa_t": true, "gva_t": true, "hpa_t": true,
}

// castType consumes "(type)" if the parenthesis holds a type name.
func (p *parser) castType() (string, bool) {
	j := p.i + 1
	var words []string
	for ; j < len(p.toks); j++ {
		t := p.toks[j]
		if t.kind == tokIdent || t.kind == tokPunct && t.text == "*" {
			words = append(words, t.text)
			continue
		}
		break
	}
	if len(words) == 0 || j >= len(p.toks) || p.toks[j].text != ")" || p.toks[j].kind != tokPunct {
		return "", false
	}
	if !typeWords[words[0]] && words[len(words)-1] != "*" {
		return "", false
	}
	p.i = j + 1
	return strings.Join(words, " "), true
}

func (p *parser) postfix() (Expr, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokPunct {
			return x, nil
		}
		switch t.text {
		case "->", ".":
			p.next()
			n := p.next()
			if n.kind != tokIdent {
				return nil, fmt.Errorf("print fmt: offset %d: want a member name after %s", n.pos, t.text)
			}
			if id, ok := x.(Ident); ok && id.Name == "REC" && t.text == "->" {
				x = RecField{Name: n.text}
			} else {
				x = Member{X: x, Name: n.text, Arrow: t.text == "->"}
			}
		case "[":
			p.next()
			i, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = Index{X: x, I: i}
		case "(":
			id, ok := x.(Ident)
			if !ok {
				return nil, fmt.Errorf("print fmt: offset %d: call of a non-name", t.pos)
			}
			p.next()
			args, err := p.list(")")
			if err != nil {
				return nil, err
			}
			x = Call{Fn: id.Name, Args: args}
		default:
			return x, nil
		}
	}
}

// list parses comma-separated expressions up to the closing punctuation.
func (p *parser) list(closing string) ([]Expr, error) {
	var elems []Expr
	if t := p.peek(); t.kind == tokPunct && t.text == closing {
		p.next()
		return elems, nil
	}
	for {
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
		t := p.next()
		switch {
		case t.kind == tokPunct && t.text == closing:
			return elems, nil
		case t.kind == tokPunct && t.text == ",":
			// A trailing comma before } is allowed in initializers.
			if n := p.peek(); closing == "}" && n.kind == tokPunct && n.text == "}" {
				p.next()
				return elems, nil
			}
		default:
			return nil, fmt.Errorf("print fmt: offset %d: want , or %s, have %q", t.pos, closing, t.text)
		}
	}
}

func (p *parser) primary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tokNum:
		return Num{Val: t.num}, nil
	case tokStr:
		s := t.text
		for p.peek().kind == tokStr {
			s += p.next().text
		}
		return Str{Val: s}, nil
	case tokIdent:
		return Ident{Name: t.text}, nil
	case tokPunct:
		switch t.text {
		case "(":
			e, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return e, nil
		case "{":
			elems, err := p.list("}")
			if err != nil {
				return nil, err
			}
			return List{Elems: elems}, nil
		}
	}
	if t.kind == tokEOF {
		return nil, errors.New("print fmt: unexpected end")
	}
	return nil, fmt.Errorf("print fmt: offset %d: unexpected %q", t.pos, t.text)
}

// ErrNotConstant is returned by Eval for expressions that read fields or
// call functions.
var ErrNotConstant = errors.New("not a constant expression")

// Eval evaluates a constant integer expression, as the values of a
// __print_symbolic table (0x040 + 13, -1, 1ULL << 3). fields, if not nil,
// gives the values of REC->NAME.
func Eval(e Expr, fields func(name string) (int64, bool)) (int64, error) {
	return eval(e, fields, 0)
}

func eval(e Expr, fields func(string) (int64, bool), depth int) (int64, error) {
	if depth > maxDepth {
		return 0, errors.New("expression nested too deeply")
	}
	depth++
	switch e := e.(type) {
	case Num:
		return e.Val, nil
	case RecField:
		if fields != nil {
			if v, ok := fields(e.Name); ok {
				return v, nil
			}
		}
		return 0, fmt.Errorf("REC->%s: %w", e.Name, ErrNotConstant)
	case Cast:
		return eval(e.X, fields, depth)
	case Unary:
		x, err := eval(e.X, fields, depth)
		if err != nil {
			return 0, err
		}
		switch e.Op {
		case "-":
			return -x, nil
		case "+":
			return x, nil
		case "~":
			return ^x, nil
		case "!":
			return b2i(x == 0), nil
		}
	case Binary:
		x, err := eval(e.X, fields, depth)
		if err != nil {
			return 0, err
		}
		y, err := eval(e.Y, fields, depth)
		if err != nil {
			return 0, err
		}
		switch e.Op {
		case "+":
			return x + y, nil
		case "-":
			return x - y, nil
		case "*":
			return x * y, nil
		case "/", "%":
			if y == 0 {
				return 0, errors.New("division by zero")
			}
			if e.Op == "/" {
				return x / y, nil
			}
			return x % y, nil
		case "<<":
			if y < 0 || y > 63 {
				return 0, fmt.Errorf("shift by %d", y)
			}
			return x << y, nil
		case ">>":
			if y < 0 || y > 63 {
				return 0, fmt.Errorf("shift by %d", y)
			}
			return x >> y, nil
		case "&":
			return x & y, nil
		case "|":
			return x | y, nil
		case "^":
			return x ^ y, nil
		case "==":
			return b2i(x == y), nil
		case "!=":
			return b2i(x != y), nil
		case "<":
			return b2i(x < y), nil
		case ">":
			return b2i(x > y), nil
		case "<=":
			return b2i(x <= y), nil
		case ">=":
			return b2i(x >= y), nil
		case "&&":
			return b2i(x != 0 && y != 0), nil
		case "||":
			return b2i(x != 0 || y != 0), nil
		}
	case Cond:
		c, err := eval(e.C, fields, depth)
		if err != nil {
			return 0, err
		}
		if c != 0 {
			return eval(e.T, fields, depth)
		}
		return eval(e.F, fields, depth)
	}
	return 0, ErrNotConstant
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
