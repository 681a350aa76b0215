package usdt

import (
	"errors"
	"strings"
	"testing"
)

func TestParseArg(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Arg
		str  string
	}{
		{"-4@%edi", Arg{Size: 4, Signed: true, Kind: ArgReg, Reg: "di", RegSize: 4}, "4 signed   bytes @ di"},
		{"8@%rax", Arg{Size: 8, Kind: ArgReg, Reg: "ax", RegSize: 8}, "8 unsigned bytes @ ax"},
		{"1@%al", Arg{Size: 1, Kind: ArgReg, Reg: "ax", RegSize: 1}, "1 unsigned bytes @ ax"},
		{"1@%ah", Arg{Size: 1, Kind: ArgReg, Reg: "ax", RegSize: 1, RegHigh: true}, "1 unsigned bytes @ ax>>8"},
		{"-2@%ax", Arg{Size: 2, Signed: true, Kind: ArgReg, Reg: "ax", RegSize: 2}, "2 signed   bytes @ ax"},
		{"1@%dil", Arg{Size: 1, Kind: ArgReg, Reg: "di", RegSize: 1}, ""},
		{"-2@%r9w", Arg{Size: 2, Signed: true, Kind: ArgReg, Reg: "r9", RegSize: 2}, ""},
		{"4@%r12d", Arg{Size: 4, Kind: ArgReg, Reg: "r12", RegSize: 4}, ""},
		{"1@%r15b", Arg{Size: 1, Kind: ArgReg, Reg: "r15", RegSize: 1}, ""},
		{"-4@$5", Arg{Size: 4, Signed: true, Kind: ArgConst, Offset: 5}, "4 signed   bytes @ 5"},
		{"-4@$-5", Arg{Size: 4, Signed: true, Kind: ArgConst, Offset: -5}, "4 signed   bytes @ -5"},
		{"8@$0x10", Arg{Size: 8, Kind: ArgConst, Offset: 16}, ""},
		{"8@-16(%rbp)", Arg{Size: 8, Kind: ArgMem, Reg: "bp", Offset: -16}, "8 unsigned bytes @ *(bp - 16)"},
		{"-4@-1204(%rbp)", Arg{Size: 4, Signed: true, Kind: ArgMem, Reg: "bp", Offset: -1204}, ""},
		{"8@(%rax)", Arg{Size: 8, Kind: ArgMem, Reg: "ax"}, "8 unsigned bytes @ *(ax + 0)"},
		{"8@0x18(%rsp)", Arg{Size: 8, Kind: ArgMem, Reg: "sp", Offset: 24}, ""},
		{"8@(%rax,%rdx,8)", Arg{Size: 8, Kind: ArgMem, Reg: "ax", Index: "dx", Scale: 8}, "8 unsigned bytes @ *(ax + 0 + dx * 8)"},
		{"-8@-8(%rbx,%rdx,8)", Arg{Size: 8, Signed: true, Kind: ArgMem, Reg: "bx", Index: "dx", Scale: 8, Offset: -8}, ""},
		{"4@(%rax,%rcx)", Arg{Size: 4, Kind: ArgMem, Reg: "ax", Index: "cx", Scale: 1}, ""},
		{"4@16(,%rcx,4)", Arg{Size: 4, Kind: ArgMem, Index: "cx", Scale: 4, Offset: 16}, "4 unsigned bytes @ *(0 + 16 + cx * 4)"},
		{"-8@sdt_counter(%rip)", Arg{Size: 8, Signed: true, Kind: ArgMem, Reg: "ip", Symbol: "sdt_counter"}, "8 signed   bytes @ *(&sdt_counter + 0)"},
		{"8@sdt_table+24(%rip)", Arg{Size: 8, Kind: ArgMem, Reg: "ip", Symbol: "sdt_table", Offset: 24}, "8 unsigned bytes @ *(&sdt_table + 24)"},
		{"8@x.1-8(%rip)", Arg{Size: 8, Kind: ArgMem, Reg: "ip", Symbol: "x.1", Offset: -8}, ""},
		{"8@table(,%rdx,8)", Arg{Size: 8, Kind: ArgMem, Reg: "ip", Symbol: "table", Index: "dx", Scale: 8}, ""},
		{"4@counter", Arg{Size: 4, Kind: ArgMem, Reg: "ip", Symbol: "counter"}, ""},
		{"8@(%eax)", Arg{Size: 8, Kind: ArgMem, Reg: "ax"}, ""},
		// Old sys/sdt.h: no size.
		{"%rdi", Arg{Size: 8, Kind: ArgReg, Reg: "di", RegSize: 8}, ""},
	} {
		got, err := ParseArg(tt.in)
		if err != nil {
			t.Errorf("ParseArg(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseArg(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if tt.str != "" && got.String() != tt.str {
			t.Errorf("ParseArg(%q).String() = %q, want %q", tt.in, got.String(), tt.str)
		}
	}
}

func TestParseArgErrors(t *testing.T) {
	for _, in := range []string{
		"", "@", "4@", "3@%eax", "16@%rax", "x@%rax", "4@%xyz", "4@$", "4@$abc",
		"4@-16(%rbp", "4@-16(%rbp))", "4@()", "4@(,)", "4@(%rax,%rdx,3)",
		"4@(%ax)", "4@(%ah)", "4@(%rax,%rip,1)", "4@8(%rip)", "4@%rip",
		"4@(%rax,%rdx,8,1)", "4@%fs:16", "4@0x1000", "4@sym(%rax)", "4@1sym(%rip)",
		"4@sym@GOTPCREL(%rip)", "4@-0x(%rbp)", "4@--4(%rbp)",
	} {
		if a, err := ParseArg(in); !errors.Is(err, ErrBadArg) {
			t.Errorf("ParseArg(%q) = %+v, %v; want ErrBadArg", in, a, err)
		}
	}
	if _, err := ParseArgs(strings.Repeat("8@%rax ", 13)); !errors.Is(err, ErrBadArg) {
		t.Errorf("13 arguments: %v", err)
	}
}

func TestEncodeArg(t *testing.T) {
	for _, tt := range []struct {
		in   string
		addr uint64
		loc  uint64
		want argSpec
	}{
		{"-4@%edi", 0, 0, argSpec{ArgType: argTypeReg, RegOff: 112, IdxRegOff: -1, ArgSigned: 1, ArgBitshift: 32}},
		{"1@%ah", 0, 0, argSpec{ArgType: argTypeReg, RegOff: 80, IdxRegOff: -1, RegShift: 8, ArgBitshift: 56}},
		{"8@%eax", 0, 0, argSpec{ArgType: argTypeReg, RegOff: 80, IdxRegOff: -1, ArgBitshift: 32}},
		{"-4@$-5", 0, 0, argSpec{ArgType: argTypeConst, ValOff: uint64(1<<64 - 5), RegOff: -1, IdxRegOff: -1, ArgSigned: 1, ArgBitshift: 32}},
		{"8@-16(%rbp)", 0, 0, argSpec{ArgType: argTypeDeref, ValOff: uint64(1<<64 - 16), RegOff: 32, IdxRegOff: -1}},
		{"8@(%rax,%rdx,8)", 0, 0, argSpec{ArgType: argTypeDeref, RegOff: 80, IdxRegOff: 96, ScaleShift: 3}},
		{"4@16(,%rcx,4)", 0, 0, argSpec{ArgType: argTypeDeref, ValOff: 16, RegOff: -1, IdxRegOff: 88, ScaleShift: 2, ArgBitshift: 32}},
		// The symbol is 0x100 past the call site plus 24.
		{"8@sdt_table+24(%rip)", 0x1100, 0x1000, argSpec{ArgType: argTypeDeref, ValOff: 0x118, RegOff: 128, IdxRegOff: -1}},
		// ... or before it.
		{"8@sdt_table(%rip)", 0x1000, 0x1100, argSpec{ArgType: argTypeDeref, ValOff: uint64(1<<64 - 0x100), RegOff: 128, IdxRegOff: -1}},
	} {
		a, err := ParseArg(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		a.Address = tt.addr
		got, err := encodeArg(a, tt.loc)
		if err != nil || got != tt.want {
			t.Errorf("encodeArg(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseArg(f *testing.F) {
	for _, s := range []string{
		"-4@%edi", "8@-16(%rbp)", "-4@$5", "8@(%rax,%rdx,8)", "1@%ah", "8@sdt_table+24(%rip)",
		"4@16(,%rcx,4)", "-8@-8(%rbx,%rdx,8)", "8@$0x10", "%rdi",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArg(s)
		if err != nil {
			if !errors.Is(err, ErrBadArg) {
				t.Fatalf("ParseArg(%q): error %v does not wrap ErrBadArg", s, err)
			}
			return
		}
		switch a.Size {
		case 1, 2, 4, 8:
		default:
			t.Fatalf("ParseArg(%q): size %d", s, a.Size)
		}
		_ = a.String()
		a.Address = 0x1000
		if _, err := encodeArg(a, 0x2000); err != nil {
			t.Fatalf("ParseArg(%q) = %+v, which does not encode: %v", s, a, err)
		}
	})
}
