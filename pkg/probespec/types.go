package probespec

// Builtin describes one of C's and the kernel's integer type names.
type Builtin struct {
	Size   int
	Signed bool
}

// builtins are the type names known without BTF: C's integer types in
// their normalised spelling, and the usual fixed-size and typedef names
// (x86-64 sizes).
var builtins = map[string]Builtin{
	"char": {1, true}, "signed char": {1, true}, "unsigned char": {1, false},
	"short": {2, true}, "unsigned short": {2, false},
	"int": {4, true}, "unsigned int": {4, false},
	"long": {8, true}, "unsigned long": {8, false},
	"long long": {8, true}, "unsigned long long": {8, false},
	"bool": {1, false}, "_Bool": {1, false},
	"u8": {1, false}, "u16": {2, false}, "u32": {4, false}, "u64": {8, false},
	"s8": {1, true}, "s16": {2, true}, "s32": {4, true}, "s64": {8, true},
	"__u8": {1, false}, "__u16": {2, false}, "__u32": {4, false}, "__u64": {8, false},
	"__s8": {1, true}, "__s16": {2, true}, "__s32": {4, true}, "__s64": {8, true},
	"uint8_t": {1, false}, "uint16_t": {2, false}, "uint32_t": {4, false}, "uint64_t": {8, false},
	"int8_t": {1, true}, "int16_t": {2, true}, "int32_t": {4, true}, "int64_t": {8, true},
	"size_t": {8, false}, "ssize_t": {8, true}, "uintptr_t": {8, false}, "intptr_t": {8, true},
	"ptrdiff_t": {8, true}, "off_t": {8, true}, "loff_t": {8, true}, "time_t": {8, true},
	"pid_t": {4, true}, "uid_t": {4, false}, "gid_t": {4, false}, "mode_t": {4, false},
	"umode_t": {2, false}, "dev_t": {4, false}, "gfp_t": {4, false}, "sector_t": {8, false},
	"__be16": {2, false}, "__be32": {4, false}, "__le16": {2, false}, "__le32": {4, false},
	"__be64": {8, false}, "__le64": {8, false},
}

// LookupBuiltin returns the size and signedness of an integer type name
// (normalised as Type.Name).
func LookupBuiltin(name string) (Builtin, bool) {
	b, ok := builtins[name]
	return b, ok
}

// typeKeywords start a type in a cast.
var typeKeywords = map[string]bool{
	"struct": true, "union": true, "enum": true, "unsigned": true, "signed": true,
	"char": true, "short": true, "int": true, "long": true, "void": true,
	"bool": true, "_Bool": true, "float": true, "double": true,
	"const": true, "volatile": true, "__user": true,
}

// qualifiers are ignored in types, except __user and const which are
// recorded.
var qualifiers = map[string]bool{
	"const": true, "volatile": true, "restrict": true, "__restrict": true,
	"__user": true, "__kernel": true, "__rcu": true, "__iomem": true, "__percpu": true,
	"__force": true,
}

// parseType parses a C type at the parser's position: qualifiers, a base
// (struct NAME, a combination of int keywords, or one identifier), '*'s.
func (p *parser) parseType() (Type, error) {
	t := Type{Pos: p.peek().pos}
	var words []string // int keywords
	sawBase := false
	for {
		tok := p.peek()
		if tok.kind != tokIdent {
			break
		}
		w := tok.text
		switch {
		case qualifiers[w]:
			p.next()
			t.Const = t.Const || w == "const"
			t.User = t.User || w == "__user"
			continue
		case w == "struct" || w == "union" || w == "enum":
			if sawBase || len(words) > 0 {
				return t, p.errorf(tok.pos, "unexpected %q in type", w)
			}
			p.next()
			name := p.next()
			if name.kind != tokIdent {
				return t, p.errorf(name.pos, "expected a name after %q, got %s", w, name.describe())
			}
			t.Name = w + " " + name.text
			sawBase = true
			continue
		case w == "unsigned" || w == "signed" || w == "char" || w == "short" || w == "int" || w == "long":
			if sawBase {
				return t, p.errorf(tok.pos, "unexpected %q in type", w)
			}
			p.next()
			words = append(words, w)
			continue
		case !sawBase && len(words) == 0:
			p.next()
			t.Name = w
			sawBase = true
			continue
		}
		break
	}
	if len(words) > 0 {
		name, err := intTypeName(words)
		if err != nil {
			return t, p.errorf(t.Pos, "%v", err)
		}
		t.Name = name
		sawBase = true
	}
	if !sawBase {
		return t, p.errorf(p.peek().pos, "expected a type, got %s", p.peek().describe())
	}
	for p.peekOp("*") {
		p.next()
		t.Ptr++
		for tok := p.peek(); tok.kind == tokIdent && qualifiers[tok.text]; tok = p.peek() {
			p.next()
			t.User = t.User || tok.text == "__user"
		}
	}
	t.End = p.prevEnd()
	return t, nil
}

// intTypeName normalises a combination of int keywords ("long unsigned
// int") to the spelling of builtins ("unsigned long").
func intTypeName(words []string) (string, error) {
	var unsigned, signed bool
	var char, short, int_, long int
	for _, w := range words {
		switch w {
		case "unsigned":
			unsigned = true
		case "signed":
			signed = true
		case "char":
			char++
		case "short":
			short++
		case "int":
			int_++
		case "long":
			long++
		}
	}
	bad := func() (string, error) {
		return "", &typeError{joinWords(words)}
	}
	if unsigned && signed || char > 1 || short > 1 || int_ > 1 || long > 2 ||
		char > 0 && (short > 0 || int_ > 0 || long > 0) || short > 0 && long > 0 {
		return bad()
	}
	prefix := ""
	if unsigned {
		prefix = "unsigned "
	}
	switch {
	case char > 0:
		if signed {
			return "signed char", nil
		}
		return prefix + "char", nil
	case short > 0:
		return prefix + "short", nil
	case long == 2:
		return prefix + "long long", nil
	case long == 1:
		return prefix + "long", nil
	}
	return prefix + "int", nil
}

type typeError struct{ words string }

func (e *typeError) Error() string { return "invalid type " + e.words }

func joinWords(ws []string) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " "
		}
		s += w
	}
	return s
}
