package probespec

import (
	"fmt"
	"regexp"
	"strings"
)

// PatternKind is what a funccount pattern matches.
type PatternKind int

const (
	// PatternFunction matches kernel functions (Library empty) or the
	// functions of a user-space binary.
	PatternFunction PatternKind = iota + 1
	// PatternTracepoint matches kernel tracepoints, named "CAT:EVENT".
	PatternTracepoint
	// PatternUSDT matches the USDT probes of a binary.
	PatternUSDT
)

// Pattern is bcc funccount's pattern of probe points:
//
//	func, p::func      kernel functions
//	lib:func, p:lib:func
//	                   functions of a library or executable ("c", a path)
//	t:cat:event        tracepoints
//	u:lib:probe        USDT probes
//
// Name is matched with '*' wildcards (every other character stands for
// itself), or as a regular expression anchored at the start of the name
// when Regexp is set (Python's re.match, which bcc uses). Tracepoints are
// matched as "CAT:EVENT".
type Pattern struct {
	Text    string
	Kind    PatternKind
	Library string
	Name    string
	Regexp  bool

	re *regexp.Regexp
}

// ParsePattern parses a funccount pattern; regex makes Name a regular
// expression instead of a '*' glob.
func ParsePattern(text string, regex bool) (*Pattern, error) {
	p := &Pattern{Text: text, Regexp: regex, Kind: PatternFunction}
	parts := strings.Split(text, ":")
	switch len(parts) {
	case 1:
		p.Name = parts[0]
	case 2:
		p.Library, p.Name = parts[0], parts[1]
	case 3:
		switch parts[0] {
		case "p":
			p.Library, p.Name = parts[1], parts[2]
		case "t":
			p.Kind, p.Name = PatternTracepoint, parts[1]+":"+parts[2]
			if parts[1] == "" || parts[2] == "" {
				return nil, fmt.Errorf("pattern %q: want t:CATEGORY:EVENT", text)
			}
		case "u":
			p.Kind, p.Library, p.Name = PatternUSDT, parts[1], parts[2]
			if p.Library == "" {
				return nil, fmt.Errorf("pattern %q: want u:LIBRARY:PROBE (the binary holding the USDT probes)", text)
			}
		default:
			return nil, fmt.Errorf("pattern %q: type must be 'p', 't', or 'u', but got %q", text, parts[0])
		}
	default:
		return nil, fmt.Errorf("pattern %q: too many ':'-separated components (want [p:]LIB:FUNC, t:CAT:EVENT or u:LIB:PROBE)", text)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("pattern %q: empty name to match", text)
	}
	var expr string
	if regex {
		expr = "^(?:" + p.Name + ")"
	} else {
		expr = globRegexp(p.Name)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: bad regular expression: %w", text, err)
	}
	p.re = re
	return p, nil
}

// globRegexp turns a '*' glob into an anchored regular expression.
func globRegexp(glob string) string {
	var b strings.Builder
	b.WriteString("(?s)^")
	for i, part := range strings.Split(glob, "*") {
		if i > 0 {
			b.WriteString(".*")
		}
		b.WriteString(regexp.QuoteMeta(part))
	}
	b.WriteString("$")
	return b.String()
}

// Match reports whether name matches the pattern.
func (p *Pattern) Match(name string) bool { return p.re.MatchString(name) }

// Literal reports whether the pattern names one thing (no wildcard, not a
// regular expression): then "no match" can suggest close names.
func (p *Pattern) Literal() bool { return !p.Regexp && !strings.Contains(p.Name, "*") }

// KernelFunctions reports whether the pattern matches kernel functions.
func (p *Pattern) KernelFunctions() bool { return p.Kind == PatternFunction && p.Library == "" }
