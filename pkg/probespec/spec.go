package probespec

import (
	"fmt"
	"strings"
)

// Spec is an argdist probe specifier:
// {p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
type Spec struct {
	// Text is the specifier as given.
	Text  string
	Probe Probe
	// Types and Exprs are the collected values, one type per
	// expression; both are empty when the specifier stops after the
	// signature (argdist then counts calls, or return values for r).
	Types []Type
	Exprs []Expr
	// Filter is nil without one.
	Filter Expr
	// Label is the text after '#', empty without one.
	Label string
}

// ExprText returns the text of e as written in the specifier.
func (s *Spec) ExprText(e Expr) string {
	return strings.TrimSpace(s.Text[e.Pos():e.End()])
}

// span is a byte range of the text.
type span struct{ start, end int }

// unquoted calls fn with the offset of each byte of text[start:end] that
// is outside quotes (the quotes themselves are inside), until fn returns
// false.
func unquoted(text string, start, end int, fn func(i int) bool) {
	var quote byte
	for i := start; i < end; i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		default:
			if !fn(i) {
				return
			}
		}
	}
}

// splitTop splits text[start:end] at sep where sep is outside quotes,
// parentheses and brackets.
func splitTop(text string, start, end int, sep byte) []span {
	var parts []span
	depth := 0
	from := start
	unquoted(text, start, end, func(i int) bool {
		switch c := text[i]; {
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			if depth > 0 {
				depth--
			}
		case c == sep && depth == 0:
			parts = append(parts, span{from, i})
			from = i + 1
		}
		return true
	})
	return append(parts, span{from, end})
}

// indexTop returns the offset of the first sep in text[start:end] outside
// quotes, or -1.
func indexTop(text string, start, end int, sep byte) int {
	parts := splitTop(text, start, end, sep)
	if len(parts) == 1 {
		return -1
	}
	return parts[0].end
}

// trimSpan narrows s to exclude surrounding white space.
func trimSpan(text string, s span) span {
	for s.start < s.end && isSpace(text[s.start]) {
		s.start++
	}
	for s.end > s.start && isSpace(text[s.end-1]) {
		s.end--
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ParseSpec parses an argdist specifier.
func ParseSpec(text string) (*Spec, error) {
	s := &Spec{Text: text}
	end := len(text)
	if i := indexTop(text, 0, len(text), '#'); i >= 0 {
		end = i
		s.Label = strings.TrimSpace(text[i+1:])
		if s.Label == "" {
			return nil, Errorf(text, i+1, "expected a label after '#'")
		}
	}
	parts := splitTop(text, 0, end, ':')
	if len(parts) < 3 {
		return nil, Errorf(text, end, "expected %s: a specifier starts kind:library:function(signature), e.g. p:c:write(int fd) or t:syscalls:sys_enter_write", [...]string{"", "':library:function(signature)'", "':function(signature)'"}[len(parts)])
	}
	if len(parts) > 6 {
		return nil, Errorf(text, parts[6].start-1, "too many ':'-separated parts: at most kind:library:function(signature):types:exprs:filter")
	}
	probe, err := ParseProbeAt(text, parts[0].start, parts[2].end)
	if err != nil {
		return nil, err
	}
	s.Probe = probe
	if len(parts) == 3 {
		return s, nil
	}
	if len(parts) == 4 {
		return nil, Errorf(text, parts[3].end, "expected ':' and the expressions after the types, e.g. :u64:size")
	}
	for _, ts := range splitTop(text, parts[3].start, parts[3].end, ',') {
		ts = trimSpan(text, ts)
		if ts.start == ts.end {
			return nil, Errorf(text, ts.start, "expected a type (u64, int, char*, ...)")
		}
		t, err := parseTypeIn(text, ts.start, ts.end)
		if err != nil {
			return nil, err
		}
		s.Types = append(s.Types, t)
	}
	for _, es := range splitTop(text, parts[4].start, parts[4].end, ',') {
		e, err := parseExprIn(text, es.start, es.end, "expression")
		if err != nil {
			return nil, err
		}
		s.Exprs = append(s.Exprs, e)
	}
	if len(s.Types) != len(s.Exprs) {
		return nil, Errorf(text, parts[4].start, "%d type%s but %d expression%s: give one type per expression", len(s.Types), plural(len(s.Types)), len(s.Exprs), plural(len(s.Exprs)))
	}
	if len(parts) == 6 {
		f, err := parseExprIn(text, parts[5].start, parts[5].end, "filter")
		if err != nil {
			return nil, err
		}
		s.Filter = f
	}
	return s, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ParseProbe parses a probe point, kind:library:function[(signature)].
func ParseProbe(text string) (Probe, error) {
	return ParseProbeAt(text, 0, len(text))
}

// ParseProbeAt parses text[start:end] as a probe point; positions in the
// result and in errors are offsets in text.
func ParseProbeAt(text string, start, end int) (Probe, error) {
	var p Probe
	parts := splitTop(text, start, end, ':')
	if len(parts) != 3 {
		at := end
		if len(parts) > 3 {
			at = parts[3].start - 1
		}
		return p, Errorf(text, at, "expected kind:library:function(signature), e.g. p:c:write(int fd)")
	}
	ks := trimSpan(text, parts[0])
	kind := text[ks.start:ks.end]
	if len(kind) != 1 || strings.IndexByte("prtu", kind[0]) < 0 {
		return p, Errorf(text, ks.start, "expected the probe kind p (entry), r (return), t (tracepoint) or u (USDT), got %q", kind)
	}
	p.Kind = Kind(kind[0])
	ls := trimSpan(text, parts[1])
	p.Library, p.LibraryPos = text[ls.start:ls.end], ls.start
	if p.Kind == Tracepoint && p.Library == "" {
		return p, Errorf(text, ls.start, "expected the tracepoint's category, e.g. t:syscalls:sys_enter_write")
	}
	if p.Kind == USDT && p.Library == "" {
		return p, Errorf(text, ls.start, "expected the library or executable with the USDT probe, e.g. u:/usr/bin/python3:function__entry")
	}
	fs := trimSpan(text, parts[2])
	lp := strings.IndexByte(text[fs.start:fs.end], '(')
	nameEnd := fs.end
	if lp >= 0 {
		nameEnd = fs.start + lp
	}
	ns := trimSpan(text, span{fs.start, nameEnd})
	p.Function, p.FunctionPos = text[ns.start:ns.end], ns.start
	if p.Function == "" {
		return p, Errorf(text, ns.start, "expected a %s name", map[Kind]string{Entry: "function", Return: "function", Tracepoint: "tracepoint", USDT: "USDT probe"}[p.Kind])
	}
	for i := 0; i < len(p.Function); i++ {
		if c := p.Function[i]; !isIdentChar(c) && c != '.' && c != '@' && c != '$' && c != '-' && c != '*' && c != '?' {
			return p, Errorf(text, ns.start+i, "unexpected %q in the name %q", c, p.Function)
		}
	}
	p.SignaturePos, p.End = ns.end, fs.end
	if lp < 0 {
		return p, nil
	}
	open := fs.start + lp
	p.SignaturePos, p.Signature = open, true
	if text[fs.end-1] != ')' {
		return p, Errorf(text, fs.end, "expected ')' to close the signature opened at column %d", Errorf(text, open, "").Column())
	}
	sig := span{open + 1, fs.end - 1}
	if i := strings.IndexAny(text[sig.start:sig.end], "()"); i >= 0 {
		return p, Errorf(text, sig.start+i, "unexpected %q in the signature (function pointer parameters are not supported: write void *NAME)", text[sig.start+i])
	}
	if (p.Kind == Tracepoint || p.Kind == USDT) && strings.TrimSpace(text[sig.start:sig.end]) != "" {
		what := "tracepoint fields are args->NAME"
		if p.Kind == USDT {
			what = "USDT arguments are arg1, arg2, ..."
		}
		return p, Errorf(text, sig.start, "expected an empty signature: %s", what)
	}
	params, err := parseParams(text, sig.start, sig.end)
	if err != nil {
		return p, err
	}
	p.Params = params
	return p, nil
}

// parseParams parses a C parameter list: "int fd, const void *buf, size_t
// count", "void" or nothing.
func parseParams(text string, start, end int) ([]Param, error) {
	if s := trimSpan(text, span{start, end}); s.start == s.end || text[s.start:s.end] == "void" {
		return nil, nil
	}
	var params []Param
	for _, ps := range splitTop(text, start, end, ',') {
		ps = trimSpan(text, ps)
		if ps.start == ps.end {
			return nil, Errorf(text, ps.start, "expected a parameter, e.g. int fd")
		}
		if text[ps.start:ps.end] == "..." {
			break
		}
		p, err := newParser(text, ps.start, ps.end)
		if err != nil {
			return nil, err
		}
		t, err := p.parseType()
		if err != nil {
			return nil, err
		}
		name := p.next()
		if name.kind != tokIdent {
			if name.kind == tokEOF {
				return nil, Errorf(text, name.pos, "expected a name after the type %q: parameters are written as in C, e.g. int fd", text[ps.start:ps.end])
			}
			return nil, Errorf(text, name.pos, "expected a parameter name, got %s", name.describe())
		}
		for p.peekOp("[") {
			return nil, Errorf(text, p.peek().pos, "array parameters are not supported: write %s *%s", t.Name, name.text)
		}
		if tok := p.peek(); tok.kind != tokEOF {
			return nil, Errorf(text, tok.pos, "expected ',' or ')' after the parameter %s, got %s", name.text, tok.describe())
		}
		for _, prev := range params {
			if prev.Name == name.text {
				return nil, Errorf(text, name.pos, "parameter %s declared twice", name.text)
			}
		}
		params = append(params, Param{Name: name.text, Type: t, Pos: name.pos})
	}
	return params, nil
}

// String returns the probe point as a specifier would write it.
func (p Probe) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%c:%s:%s", p.Kind, p.Library, p.Function)
	if p.Signature {
		b.WriteByte('(')
		for i, prm := range p.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(prm.Type.String())
			if prm.Type.Ptr == 0 {
				b.WriteByte(' ')
			}
			b.WriteString(prm.Name)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// ParseExprAt parses text[start:end] as one expression; positions are
// offsets in text. what names the part for errors ("filter", "predicate").
func ParseExprAt(text string, start, end int, what string) (Expr, error) {
	return parseExprIn(text, start, end, what)
}
