package probespec

import (
	"strings"
)

// TraceSpec is a bcc trace probe:
//
//	[{p,r}]:[library]:function[(signature)] [(predicate)] ["format string"[, arguments]]
//	t:category:event [(predicate)] ["format string"[, arguments]]
//	u:library:probe [(predicate)] ["format string"[, arguments]]
//
// "func" is short for "p::func" and "lib:func" for "p:lib:func".
type TraceSpec struct {
	// Given is the probe as the user wrote it.
	Given string
	// Text is Given with the short forms expanded ("p::" or "p:"
	// prepended); every position in the spec is an offset in Text.
	Text  string
	Probe Probe
	// Filter is the predicate, nil without one.
	Filter Expr
	// Format is the format string's value (escapes decoded); HasFormat
	// tells an empty format from none.
	Format    string
	HasFormat bool
	FormatPos int
	Args      []Expr
}

// shift is the length of what ParseTrace prepended to the given text.
func (s *TraceSpec) shift() int { return len(s.Text) - len(s.Given) }

// Given maps an *Error about s.Text back to the text as given, so that its
// column counts in what the user typed. Other errors are returned as they
// are.
func (s *TraceSpec) GivenError(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Text != s.Text {
		return err
	}
	return &Error{Text: s.Given, Pos: max(e.Pos-s.shift(), 0), Msg: e.Msg}
}

// ParseTrace parses a bcc trace probe. Errors are *Error values whose
// columns count in text.
func ParseTrace(text string) (*TraceSpec, error) {
	s := &TraceSpec{Given: text}
	// The probe point runs to the first blank or '(' (bcc's rule), then
	// an optional signature.
	lead := len(text) - len(strings.TrimLeft(text, " \t"))
	end := lead
	for end < len(text) && text[end] != ' ' && text[end] != '\t' && text[end] != '(' {
		end++
	}
	if end == lead {
		return nil, Errorf(text, lead, "expected a probe, e.g. do_sys_open, r::do_sys_open, c:malloc, t:sched:sched_switch or u:lib:probe")
	}
	point := text[lead:end]
	prefix := ""
	switch strings.Count(point, ":") {
	case 0:
		prefix = "p::"
	case 1:
		prefix = "p:"
	case 3:
		if point[0] == 'u' {
			// u:library:provider:probe
			return nil, Errorf(text, lead+strings.LastIndexByte(point, ':'), "USDT provider names are not supported: write u:library:probe")
		}
	}
	if i := strings.IndexByte(point, '+'); i >= 0 {
		return nil, Errorf(text, lead+i, "probe offsets (function+offset) are not supported: probe the function's entry")
	}
	s.Text = text[:lead] + prefix + text[lead:]
	t := s.Text
	at := func(err error) (*TraceSpec, error) { return nil, s.GivenError(err) }
	end += len(prefix)
	if end < len(t) && t[end] == '(' {
		close, err := balanced(t, end, "signature")
		if err != nil {
			return at(err)
		}
		end = close + 1
	}
	p, err := ParseProbeAt(t, lead, end)
	if err != nil {
		return at(err)
	}
	if p.Kind == USDT || p.Kind == Tracepoint {
		if p.Signature {
			return at(Errorf(t, p.SignaturePos, "USDT and tracepoint probes can't have a function signature; use arg1, arg2, ... or args->FIELD instead"))
		}
	}
	s.Probe = p

	i := skipBlank(t, end)
	if i < len(t) && t[i] == '(' {
		close, err := balanced(t, i, "predicate")
		if err != nil {
			return at(err)
		}
		if s.Filter, err = ParseExprAt(t, i+1, close, "predicate"); err != nil {
			return at(err)
		}
		i = skipBlank(t, close+1)
	}
	if i == len(t) {
		return s, nil
	}
	if t[i] != '"' {
		return at(Errorf(t, i, "expected a format string in double quotes, e.g. \"%%d\", arg1"))
	}
	l := &lexer{text: t, pos: i, end: len(t)}
	tok, err := l.quoted('"')
	if err != nil {
		return at(err)
	}
	s.Format, s.HasFormat, s.FormatPos = tok.str, true, i
	i = skipBlank(t, l.pos)
	if i == len(t) {
		return s, nil
	}
	if t[i] != ',' {
		return at(Errorf(t, i, "expected ',' and the arguments after the format string"))
	}
	for _, a := range splitTop(t, i+1, len(t), ',') {
		e, err := ParseExprAt(t, a.start, a.end, "argument")
		if err != nil {
			return at(err)
		}
		s.Args = append(s.Args, e)
	}
	return s, nil
}

func skipBlank(t string, i int) int {
	for i < len(t) && isSpace(t[i]) {
		i++
	}
	return i
}

// balanced returns the offset of the ')' closing the '(' at open, outside
// quotes.
func balanced(t string, open int, what string) (int, error) {
	depth, close := 0, -1
	unquoted(t, open, len(t), func(i int) bool {
		switch t[i] {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				close = i
				return false
			}
		}
		return true
	})
	if close < 0 {
		return 0, Errorf(t, open, "unmatched '(': expected ')' to end the %s", what)
	}
	return close, nil
}
