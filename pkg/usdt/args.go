package usdt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadArg means a USDT argument is not in the x86-64 grammar sys/sdt.h
// writes.
var ErrBadArg = errors.New("bad USDT argument")

// MaxArgs is the number of arguments sys/sdt.h allows a probe.
const MaxArgs = 12

// ArgKind is where an argument lives.
type ArgKind uint8

const (
	// ArgConst is a constant: "-4@$5".
	ArgConst ArgKind = iota
	// ArgReg is a register: "-4@%edi", "1@%ah".
	ArgReg
	// ArgMem is memory at Base + Index*Scale + Offset: "8@-16(%rbp)",
	// "8@(%rax,%rdx,8)", or at a symbol plus Offset, relative to the
	// instruction pointer: "8@counter(%rip)".
	ArgMem
)

// Arg is one parsed USDT argument.
type Arg struct {
	// Size is the argument's size in bytes: 1, 2, 4 or 8.
	Size int
	// Signed tells a signed argument (a negative size in the note).
	Signed bool
	Kind   ArgKind
	// Reg is the register of ArgReg, or the base register of ArgMem
	// ("" for none), named as in struct pt_regs: "ax", "di", "r9", "ip".
	Reg string
	// RegSize is the width in bytes of the register as written: 1 for
	// %al and %ah, 2 for %ax, 4 for %eax, 8 for %rax.
	RegSize int
	// RegHigh tells %ah, %bh, %ch and %dh: bits 8 to 15.
	RegHigh bool
	// Index and Scale are ArgMem's index register and its factor.
	Index string
	Scale int
	// Offset is the constant of ArgConst, the displacement of ArgMem, or
	// what is added to Symbol.
	Offset int64
	// Symbol is the variable of "8@counter(%rip)" or "8@table+16(%rip)",
	// whose address is resolved from the binary's symbol table.
	Symbol string
	// Address is Symbol's address as linked, filled in when the probe is
	// read from its binary.
	Address uint64
}

// regInfo describes an x86-64 register name: its struct pt_regs name, its
// width, and whether it is a high byte.
type regInfo struct {
	name string
	size int
	high bool
}

var x86Regs = func() map[string]regInfo {
	m := map[string]regInfo{"rip": {"ip", 8, false}, "eip": {"ip", 4, false}}
	// The legacy eight: rax eax ax al ah, ..., rsp esp sp spl.
	for _, r := range []struct{ base, l, h string }{
		{"a", "al", "ah"}, {"b", "bl", "bh"}, {"c", "cl", "ch"}, {"d", "dl", "dh"},
	} {
		n := r.base + "x"
		m["r"+n] = regInfo{n, 8, false}
		m["e"+n] = regInfo{n, 4, false}
		m[n] = regInfo{n, 2, false}
		m[r.l] = regInfo{n, 1, false}
		m[r.h] = regInfo{n, 1, true}
	}
	for _, n := range []string{"si", "di", "bp", "sp"} {
		m["r"+n] = regInfo{n, 8, false}
		m["e"+n] = regInfo{n, 4, false}
		m[n] = regInfo{n, 2, false}
		m[n+"l"] = regInfo{n, 1, false}
	}
	for i := 8; i <= 15; i++ {
		n := "r" + strconv.Itoa(i)
		m[n] = regInfo{n, 8, false}
		m[n+"d"] = regInfo{n, 4, false}
		m[n+"w"] = regInfo{n, 2, false}
		m[n+"b"] = regInfo{n, 1, false}
		m[n+"l"] = regInfo{n, 1, false}
	}
	return m
}()

// ParseArgs parses a probe's argument string: arguments separated by
// spaces.
func ParseArgs(s string) ([]Arg, error) {
	fields := strings.Fields(s)
	if len(fields) > MaxArgs {
		return nil, fmt.Errorf("%w: %d arguments, at most %d", ErrBadArg, len(fields), MaxArgs)
	}
	args := make([]Arg, 0, len(fields))
	for i, f := range fields {
		a, err := ParseArg(f)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		args = append(args, a)
	}
	return args, nil
}

// ParseArg parses one x86-64 USDT argument: [-]SIZE@OPERAND, where the
// operand is in AT&T syntax: %reg, $imm, disp(%base), disp(%base,%index,
// scale), disp(,%index,scale), symbol(%rip), symbol+off(%rip). Without
// "SIZE@" (old sys/sdt.h) the size is 8, unsigned.
func ParseArg(s string) (Arg, error) {
	a := Arg{Size: 8}
	op := s
	if sz, rest, ok := strings.Cut(s, "@"); ok {
		n, err := strconv.Atoi(sz)
		if err != nil {
			return a, fmt.Errorf("%w %q: size %q", ErrBadArg, s, sz)
		}
		if n < 0 {
			a.Signed, n = true, -n
		}
		switch n {
		case 1, 2, 4, 8:
		default:
			return a, fmt.Errorf("%w %q: size %d, want 1, 2, 4 or 8", ErrBadArg, s, n)
		}
		a.Size, op = n, rest
	}
	if op == "" {
		return a, fmt.Errorf("%w %q: no operand", ErrBadArg, s)
	}
	switch op[0] {
	case '$':
		v, err := parseInt(op[1:])
		if err != nil {
			return a, fmt.Errorf("%w %q: constant: %w", ErrBadArg, s, err)
		}
		a.Kind, a.Offset = ArgConst, v
		return a, nil
	case '%':
		r, ok := x86Regs[op[1:]]
		if !ok {
			return a, fmt.Errorf("%w %q: unknown register %s", ErrBadArg, s, op)
		}
		if r.name == "ip" {
			return a, fmt.Errorf("%w %q: the instruction pointer is no argument", ErrBadArg, s)
		}
		a.Kind, a.Reg, a.RegSize, a.RegHigh = ArgReg, r.name, r.size, r.high
		return a, nil
	}
	if err := parseMem(&a, op); err != nil {
		return a, fmt.Errorf("%w %q: %w", ErrBadArg, s, err)
	}
	return a, nil
}

// parseMem parses a memory operand: [disp](base[,index[,scale]]) where disp
// is a number or symbol[+-number]; or a bare symbol or absolute address.
func parseMem(a *Arg, op string) error {
	a.Kind = ArgMem
	disp, inner := op, ""
	if i := strings.IndexByte(op, '('); i >= 0 {
		if !strings.HasSuffix(op, ")") {
			return errors.New("unbalanced parentheses")
		}
		disp, inner = op[:i], op[i+1:len(op)-1]
		if strings.ContainsAny(inner, "()") {
			return errors.New("unbalanced parentheses")
		}
	}
	if strings.Contains(disp, ":") {
		return errors.New("segment registers are not supported")
	}
	if err := parseDisp(a, disp); err != nil {
		return err
	}
	if inner == "" {
		if strings.Contains(op, "(") {
			return errors.New("empty parentheses")
		}
		// An absolute address: "8@counter" in non-PIE code.
		if a.Symbol == "" {
			return errors.New("absolute addresses without a symbol are not supported")
		}
		a.Reg = "ip"
		return nil
	}
	parts := strings.Split(inner, ",")
	if len(parts) > 3 {
		return errors.New("too many operands in parentheses")
	}
	if parts[0] != "" {
		r, err := memReg(parts[0])
		if err != nil {
			return err
		}
		a.Reg = r
	}
	if len(parts) >= 2 {
		r, err := memReg(parts[1])
		if err != nil {
			return err
		}
		if r == "ip" {
			return errors.New("%rip cannot be an index")
		}
		a.Index, a.Scale = r, 1
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "1", "2", "4", "8":
			a.Scale = int(parts[2][0] - '0')
		default:
			return fmt.Errorf("scale %q, want 1, 2, 4 or 8", parts[2])
		}
	}
	if a.Reg == "" && a.Index == "" {
		return errors.New("no register in parentheses")
	}
	switch {
	case a.Reg == "ip" && a.Symbol == "":
		return errors.New("RIP-relative operand without a symbol")
	case a.Symbol != "" && a.Reg != "ip" && a.Reg != "":
		// table(%rax): an absolute symbol plus a register; in PIE code
		// the compiler would have used %rip.
		return errors.New("a symbol with a base register other than %rip is not supported")
	case a.Symbol != "" && a.Reg == "":
		// table(,%rdx,8): the symbol's address, relocated like %rip.
		a.Reg = "ip"
	}
	return nil
}

// memReg parses a register inside a memory operand: a 64-bit one (or a
// 32-bit one with the address-size prefix).
func memReg(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "%")
	if !ok {
		return "", fmt.Errorf("register %q without %%", s)
	}
	r, ok := x86Regs[name]
	if !ok || r.size < 4 || r.high {
		return "", fmt.Errorf("register %s cannot address memory", s)
	}
	return r.name, nil
}

// parseDisp parses a displacement: "", "-16", "0x10", "sym", "sym+24",
// "sym-8".
func parseDisp(a *Arg, s string) error {
	if s == "" {
		return nil
	}
	if s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9') {
		v, err := parseInt(s)
		if err != nil {
			return fmt.Errorf("displacement: %w", err)
		}
		a.Offset = v
		return nil
	}
	sym, off := s, ""
	if i := strings.LastIndexAny(s, "+-"); i > 0 {
		sym, off = s[:i], s[i:]
	}
	if !validSymbol(sym) {
		return fmt.Errorf("symbol %q", sym)
	}
	a.Symbol = sym
	if off != "" {
		v, err := parseInt(off)
		if err != nil {
			return fmt.Errorf("symbol offset: %w", err)
		}
		a.Offset = v
	}
	return nil
}

func validSymbol(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '.',
			c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z',
			i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// parseInt parses a decimal or 0x-prefixed hexadecimal number with an
// optional sign, as assemblers write them; values up to 2^64-1 are taken
// modulo 2^64.
func parseInt(s string) (int64, error) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		base, s = 16, h
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("number %q", s)
	}
	u, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q", s)
	}
	v := int64(u)
	if neg {
		v = -v
	}
	return v, nil
}

// String formats the argument as bcc's tplist does:
// "4 signed   bytes @ di", "8 unsigned bytes @ *(bp - 16)", "4 signed   bytes @ 5".
func (a Arg) String() string {
	sign := "unsigned"
	if a.Signed {
		sign = "signed  "
	}
	return fmt.Sprintf("%d %s bytes @ %s", a.Size, sign, a.location())
}

func (a Arg) location() string {
	switch a.Kind {
	case ArgConst:
		return strconv.FormatInt(a.Offset, 10)
	case ArgReg:
		if a.RegHigh {
			return a.Reg + ">>8"
		}
		return a.Reg
	}
	signed := func(v int64) string {
		if v < 0 {
			return fmt.Sprintf("- %d", uint64(-v))
		}
		return fmt.Sprintf("+ %d", v)
	}
	if a.Symbol != "" {
		s := fmt.Sprintf("*(&%s %s", a.Symbol, signed(a.Offset))
		if a.Index != "" {
			s += fmt.Sprintf(" + %s * %d", a.Index, a.Scale)
		}
		return s + ")"
	}
	base := a.Reg
	if base == "" {
		base = "0"
	}
	s := fmt.Sprintf("*(%s %s", base, signed(a.Offset))
	if a.Index != "" {
		s += fmt.Sprintf(" + %s * %d", a.Index, a.Scale)
	}
	return s + ")"
}
