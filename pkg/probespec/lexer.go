package probespec

import (
	"strconv"
	"strings"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokInt
	tokString
	tokVar // $name
	tokOp
)

type token struct {
	kind tokKind
	text string // as written (for strings: with the quotes)
	pos  int    // byte offset in the full text
	// For tokInt: the value and suffixes; for tokString: the value.
	val            uint64
	unsigned, long bool
	str            string
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end"
	case tokString:
		return "string " + t.text
	}
	return strconv.Quote(t.text)
}

// lexer splits src[start:end] of text into tokens; positions are offsets
// in text.
type lexer struct {
	text string
	pos  int
	end  int
}

// ops are the operators and punctuation, longest first.
var ops = []string{
	"->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~", "!",
	"(", ")", "[", "]", ".", ",", "?", ":",
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func (l *lexer) errorf(pos int, format string, args ...any) *Error {
	return Errorf(l.text, pos, format, args...)
}

func (l *lexer) next() (token, error) {
	for l.pos < l.end && strings.IndexByte(" \t\n\r", l.text[l.pos]) >= 0 {
		l.pos++
	}
	if l.pos >= l.end {
		return token{kind: tokEOF, pos: l.end}, nil
	}
	start := l.pos
	c := l.text[start]
	switch {
	case isIdentStart(c):
		for l.pos < l.end && isIdentChar(l.text[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, text: l.text[start:l.pos], pos: start}, nil
	case c == '$':
		l.pos++
		for l.pos < l.end && isIdentChar(l.text[l.pos]) {
			l.pos++
		}
		if l.pos == start+1 {
			return token{}, l.errorf(start, "expected a name after '$' ($retval, $latency, $entry(param), $PID, $TID, $UID, $GID, $CPU, $COMM)")
		}
		return token{kind: tokVar, text: l.text[start:l.pos], pos: start}, nil
	case '0' <= c && c <= '9':
		return l.number()
	case c == '"':
		return l.quoted('"')
	case c == '\'':
		t, err := l.quoted('\'')
		if err != nil {
			return t, err
		}
		if len(t.str) != 1 {
			return token{}, l.errorf(start, "character literal %s: want exactly one character", t.text)
		}
		return token{kind: tokInt, text: t.text, pos: start, val: uint64(t.str[0])}, nil
	}
	if c == '=' && !strings.HasPrefix(l.text[start:l.end], "==") {
		return token{}, l.errorf(start, "'=' assigns; compare with '=='")
	}
	for _, op := range ops {
		if strings.HasPrefix(l.text[start:l.end], op) {
			l.pos += len(op)
			return token{kind: tokOp, text: op, pos: start}, nil
		}
	}
	return token{}, l.errorf(start, "unexpected character %q", c)
}

func (l *lexer) number() (token, error) {
	start := l.pos
	for l.pos < l.end && (isIdentChar(l.text[l.pos])) {
		l.pos++
	}
	lit := l.text[start:l.pos]
	digits := lit
	t := token{kind: tokInt, text: lit, pos: start}
	// Suffixes: u, l, ul, lu, ll, ull, llu in any case (none is a hex
	// digit).
	for len(digits) > 1 && strings.IndexByte("uUlL", digits[len(digits)-1]) >= 0 {
		if c := digits[len(digits)-1]; c == 'u' || c == 'U' {
			t.unsigned = true
		} else {
			t.long = true
		}
		digits = digits[:len(digits)-1]
	}
	base := 10
	switch {
	case strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X"):
		base, digits = 16, digits[2:]
	case strings.HasPrefix(digits, "0b") || strings.HasPrefix(digits, "0B"):
		base, digits = 2, digits[2:]
	case len(digits) > 1 && digits[0] == '0':
		base, digits = 8, digits[1:]
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return token{}, l.errorf(start, "number %s does not fit in 64 bits", lit)
		}
		return token{}, l.errorf(start, "malformed number %q", lit)
	}
	t.val = v
	return t, nil
}

func (l *lexer) quoted(q byte) (token, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= l.end {
			return token{}, l.errorf(start, "unterminated %s literal: expected a closing %c", map[byte]string{'"': "string", '\'': "character"}[q], q)
		}
		c := l.text[l.pos]
		if c == q {
			l.pos++
			break
		}
		if c != '\\' {
			b.WriteByte(c)
			l.pos++
			continue
		}
		if l.pos+1 >= l.end {
			return token{}, l.errorf(l.pos, "expected a character after '\\'")
		}
		e := l.text[l.pos+1]
		l.pos += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'x':
			n := 0
			v := 0
			for n < 2 && l.pos < l.end && strings.IndexByte("0123456789abcdefABCDEF", l.text[l.pos]) >= 0 {
				d, _ := strconv.ParseUint(l.text[l.pos:l.pos+1], 16, 8)
				v = v*16 + int(d)
				l.pos++
				n++
			}
			if n == 0 {
				return token{}, l.errorf(l.pos-2, "expected hex digits after \\x")
			}
			b.WriteByte(byte(v))
		default:
			return token{}, l.errorf(l.pos-2, "unknown escape \\%c (use \\n \\t \\r \\0 \\\\ \\\" \\' \\xHH)", e)
		}
	}
	return token{kind: tokString, text: l.text[start:l.pos], pos: start, str: b.String()}, nil
}

// tokens lexes text[start:end] completely.
func tokenize(text string, start, end int) ([]token, error) {
	l := &lexer{text: text, pos: start, end: end}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tokEOF {
			return toks, nil
		}
	}
}
