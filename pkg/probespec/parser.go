package probespec

import "fmt"

// parser reads a token stream of one part of a specifier.
type parser struct {
	text string
	toks []token
	i    int
}

func newParser(text string, start, end int) (*parser, error) {
	toks, err := tokenize(text, start, end)
	if err != nil {
		return nil, err
	}
	return &parser{text: text, toks: toks}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) peekOp(op string) bool {
	t := p.peek()
	return t.kind == tokOp && t.text == op
}

// prevEnd is the end offset of the last token consumed.
func (p *parser) prevEnd() int {
	if p.i == 0 {
		return p.toks[0].pos
	}
	t := p.toks[p.i-1]
	return t.pos + len(t.text)
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return Errorf(p.text, pos, format, args...)
}

func (p *parser) expectOp(op, context string) (token, error) {
	t := p.next()
	if t.kind != tokOp || t.text != op {
		return t, p.errorf(t.pos, "expected %q %s, got %s", op, context, t.describe())
	}
	return t, nil
}

// expectEOF fails unless the whole input was consumed.
func (p *parser) expectEOF(what string) error {
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokOp && t.text == "?" {
			return p.errorf(t.pos, "the ?: operator is not supported")
		}
		return p.errorf(t.pos, "expected an operator or the end of the %s, got %s", what, t.describe())
	}
	return nil
}

// ParseExpr parses text as one expression.
func ParseExpr(text string) (Expr, error) {
	return parseExprIn(text, 0, len(text), "expression")
}

// parseExprIn parses text[start:end] as one expression; positions are
// offsets in text.
func parseExprIn(text string, start, end int, what string) (Expr, error) {
	p, err := newParser(text, start, end)
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tokEOF {
		return nil, p.errorf(start, "expected %s, got nothing", article(what))
	}
	e, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if err := p.expectEOF(what); err != nil {
		return nil, err
	}
	return e, nil
}

func article(what string) string {
	if what != "" && (what[0] == 'a' || what[0] == 'e') {
		return "an " + what
	}
	return "a " + what
}

// ParseType parses text as one C type, e.g. "const char *" or "u64".
func ParseType(text string) (Type, error) {
	return parseTypeIn(text, 0, len(text))
}

func parseTypeIn(text string, start, end int) (Type, error) {
	p, err := newParser(text, start, end)
	if err != nil {
		return Type{}, err
	}
	t, err := p.parseType()
	if err != nil {
		return t, err
	}
	if tok := p.peek(); tok.kind != tokEOF {
		return t, p.errorf(tok.pos, "expected the end of the type, got %s", tok.describe())
	}
	return t, nil
}

// binaryPrec gives C's precedence of the binary operators, higher binds
// tighter.
var binaryPrec = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6,
	"<": 7, "<=": 7, ">": 7, ">=": 7,
	"<<": 8, ">>": 8,
	"+": 9, "-": 9,
	"*": 10, "/": 10, "%": 10,
}

// maxDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxDepth = 1000

func (p *parser) parseExpr() (Expr, error) { return p.parseBinary(1, 0) }

func (p *parser) parseBinary(minPrec, depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek().pos, "expression nested too deeply")
	}
	x, err := p.parseUnary(depth + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := binaryPrec[t.text]
		if t.kind != tokOp || !ok || prec < minPrec {
			return x, nil
		}
		p.next()
		y, err := p.parseBinary(prec+1, depth+1)
		if err != nil {
			return nil, err
		}
		x = &Binary{Op: t.text, X: x, Y: y, OpPos: t.pos}
	}
}

func (p *parser) parseUnary(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek().pos, "expression nested too deeply")
	}
	t := p.peek()
	if t.kind == tokOp {
		switch t.text {
		case "-", "+", "!", "~", "*", "&":
			p.next()
			x, err := p.parseUnary(depth + 1)
			if err != nil {
				return nil, err
			}
			return &Unary{Op: t.text, X: x, OpPos: t.pos}, nil
		case "(":
			if p.isCast() {
				p.next()
				typ, err := p.parseType()
				if err != nil {
					return nil, err
				}
				if _, err := p.expectOp(")", "after the type of a cast"); err != nil {
					return nil, err
				}
				x, err := p.parseUnary(depth + 1)
				if err != nil {
					return nil, err
				}
				return &Cast{Type: typ, X: x, LParen: t.pos}, nil
			}
		}
	}
	return p.parsePostfix(depth)
}

// isCast tells a cast "(type) x" from a parenthesised expression: the
// parenthesis holds a type keyword, a known type name, or a name followed
// by '*'s and ')'.
func (p *parser) isCast() bool {
	t := p.peekAt(1)
	if t.kind != tokIdent {
		return false
	}
	if typeKeywords[t.text] {
		return true
	}
	n := 2
	for q := p.peekAt(n); q.kind == tokOp && q.text == "*"; q = p.peekAt(n) {
		n++
	}
	if end := p.peekAt(n); end.kind != tokOp || end.text != ")" {
		return false
	}
	_, builtin := builtins[t.text]
	return builtin || n > 2
}

func (p *parser) parsePostfix(depth int) (Expr, error) {
	x, err := p.parsePrimary(depth)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokOp {
			return x, nil
		}
		switch t.text {
		case "->", ".":
			p.next()
			name := p.next()
			if name.kind != tokIdent {
				return nil, p.errorf(name.pos, "expected a member name after %q, got %s", t.text, name.describe())
			}
			x = &Member{X: x, Name: name.text, Arrow: t.text == "->", NamePos: name.pos}
		case "[":
			p.next()
			i, err := p.parseBinary(1, depth+1)
			if err != nil {
				return nil, err
			}
			rb, err := p.expectOp("]", "after the index")
			if err != nil {
				return nil, err
			}
			x = &Index{X: x, I: i, RBrack: rb.pos}
		default:
			return x, nil
		}
	}
}

func (p *parser) parsePrimary(depth int) (Expr, error) {
	t := p.next()
	switch t.kind {
	case tokIdent:
		if p.peekOp("(") {
			return p.parseCall(t, depth)
		}
		return &Ident{Name: t.text, NamePos: t.pos}, nil
	case tokInt:
		return &Int{Value: t.val, Unsigned: t.unsigned, Long: t.long, Lit: t.text, LitPos: t.pos}, nil
	case tokString:
		s := &String{Value: t.str, LitPos: t.pos, LitEnd: t.pos + len(t.text)}
		return s, nil
	case tokVar:
		name := t.text[1:]
		if name != "entry" {
			return &Var{Name: name, VarPos: t.pos, VarEnd: t.pos + len(t.text)}, nil
		}
		if _, err := p.expectOp("(", "after $entry (write $entry(param))"); err != nil {
			return nil, err
		}
		prm := p.next()
		if prm.kind != tokIdent {
			return nil, p.errorf(prm.pos, "expected a parameter name in $entry(...), got %s", prm.describe())
		}
		rp, err := p.expectOp(")", "after $entry(param")
		if err != nil {
			return nil, err
		}
		return &Var{Name: "entry", Param: prm.text, VarPos: t.pos, VarEnd: rp.pos + 1}, nil
	case tokOp:
		if t.text == "(" {
			x, err := p.parseBinary(1, depth+1)
			if err != nil {
				return nil, err
			}
			rp, err := p.expectOp(")", fmt.Sprintf("to close the '(' at column %d", p.errorf(t.pos, "").Column()))
			if err != nil {
				return nil, err
			}
			return &Paren{X: x, LParen: t.pos, RParen: rp.pos}, nil
		}
	case tokEOF:
		return nil, p.errorf(t.pos, "expected an operand (a name, a number, $retval, ...), got the end")
	}
	return nil, p.errorf(t.pos, "expected an operand (a name, a number, $retval, ...), got %s", t.describe())
}

func (p *parser) parseCall(name token, depth int) (Expr, error) {
	p.next() // (
	c := &Call{Func: name.text, FuncPos: name.pos}
	if !p.peekOp(")") {
		for {
			a, err := p.parseBinary(1, depth+1)
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, a)
			if !p.peekOp(",") {
				break
			}
			p.next()
		}
	}
	rp, err := p.expectOp(")", "after the arguments of "+name.text)
	if err != nil {
		return nil, err
	}
	c.RParen = rp.pos
	return c, nil
}
