package trace

import (
	"fmt"
	"strconv"
	"strings"
)

// conv is one conversion of a format string: %[flags][width][.prec][length]verb.
type conv struct {
	// lit is the text before it, with %% turned into %.
	lit string
	// verb is d u x X o c s p K U (i is d).
	verb byte
	// size and signed are the C type's for integer verbs.
	size   int
	signed bool
	// spec is the conversion for fmt, "" when it is a plain one that the
	// fast path prints.
	spec string
}

// format is a parsed bcc trace format string.
type format struct {
	convs []conv
	tail  string
}

// ctype is the C type the BPF program collects a conversion's argument as.
func (c conv) ctype() string {
	switch c.verb {
	case 's':
		return "char*"
	case 'p', 'K', 'U':
		return "u64"
	}
	return [2][9]string{{1: "u8", 2: "u16", 4: "u32", 8: "u64"}, {1: "s8", 2: "s16", 4: "s32", 8: "s64"}}[b2i(c.signed)][c.size]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseFormat parses a printf format as bcc's trace takes it: %d %i %u %x
// %X %o %c %s %p %K %U with the length modifiers hh h l ll z and flags,
// width and precision.
func parseFormat(s string) (*format, error) {
	f := &format{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		start := i
		i++
		if i < len(s) && s[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		for i < len(s) && strings.IndexByte("-+ #0", s[i]) >= 0 {
			i++
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i < len(s) && s[i] == '.' {
			i++
			for i < len(s) && '0' <= s[i] && s[i] <= '9' {
				i++
			}
		}
		flags := s[start+1 : i]
		size := 4
		switch {
		case strings.HasPrefix(s[i:], "hh"):
			size, i = 1, i+2
		case strings.HasPrefix(s[i:], "h"):
			size, i = 2, i+1
		case strings.HasPrefix(s[i:], "ll"):
			size, i = 8, i+2
		case strings.HasPrefix(s[i:], "l"), strings.HasPrefix(s[i:], "z"):
			size, i = 8, i+1
		}
		if i >= len(s) {
			return nil, fmt.Errorf("format %q: conversion %q at offset %d has no verb (d u x s c p K U ...)", s, s[start:], start)
		}
		c := conv{lit: lit.String(), verb: s[i], size: size}
		lit.Reset()
		goVerb := string(c.verb)
		switch c.verb {
		case 'd', 'i':
			c.verb, c.signed, goVerb = 'd', true, "d"
		case 'u':
			goVerb = "d"
		case 'x', 'X', 'o':
		case 'c':
			c.size, c.signed = 1, true
		case 's', 'p', 'K', 'U':
			if size != 4 {
				return nil, fmt.Errorf("format %q: %q takes no length modifier", s, s[start:i+1])
			}
			goVerb = "s"
			if c.verb == 'p' {
				goVerb = "x"
			}
		default:
			return nil, fmt.Errorf("format %q: unknown conversion %q (use %%d %%u %%x %%c %%s %%p %%K %%U with h, l or ll)", s, s[start:i+1])
		}
		if flags != "" {
			if c.verb == 'p' {
				flags = "#" + flags
			}
			c.spec = "%" + flags + goVerb
		}
		f.convs = append(f.convs, c)
	}
	f.tail = lit.String()
	return f, nil
}

// arg is a conversion's value: an integer (bits and signedness per its
// conversion) or a string.
type arg struct {
	u   uint64
	str []byte
}

// render appends the formatted message. sym resolves %K (pid 0) and %U
// addresses.
func (f *format) render(b []byte, args []arg, sym func(addr uint64, user bool) string) []byte {
	for i, c := range f.convs {
		b = append(b, c.lit...)
		a := args[i]
		var v any
		switch c.verb {
		case 's':
			if c.spec == "" {
				b = append(b, a.str...)
				continue
			}
			v = string(a.str)
		case 'K', 'U':
			s := sym(a.u, c.verb == 'U')
			if c.spec == "" {
				b = append(b, s...)
				continue
			}
			v = s
		case 'c':
			if c.spec == "" {
				b = append(b, byte(a.u))
				continue
			}
			v = rune(byte(a.u))
		case 'p':
			if c.spec == "" {
				b = append(b, "0x"...)
				b = strconv.AppendUint(b, a.u, 16)
				continue
			}
			v = a.u
		default:
			if c.signed {
				shift := uint(64 - 8*c.size)
				n := int64(a.u<<shift) >> shift
				if c.spec == "" {
					b = strconv.AppendInt(b, n, 10)
					continue
				}
				v = n
				break
			}
			n := a.u
			if c.size < 8 {
				n &= 1<<(8*c.size) - 1
			}
			if c.spec == "" {
				switch c.verb {
				case 'x':
					b = strconv.AppendUint(b, n, 16)
				case 'X':
					b = append(b, strings.ToUpper(strconv.FormatUint(n, 16))...)
				case 'o':
					b = strconv.AppendUint(b, n, 8)
				default:
					b = strconv.AppendUint(b, n, 10)
				}
				continue
			}
			v = n
		}
		b = fmt.Appendf(b, c.spec, v)
	}
	return append(b, f.tail...)
}
