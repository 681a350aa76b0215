package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"
)

// formatListing renders instructions as the kernel's verifier and
// llvm-objdump write BPF: "r0 = *(u64 *)(r6 +32)", "if r0 == 0x0 goto L",
// with labels and the source expressions as comments.
func formatListing(insns asm.Instructions, comments map[int]string) string {
	var b strings.Builder
	iter := insns.Iterate()
	for iter.Next() {
		ins := iter.Ins
		if sym := ins.Symbol(); sym != "" {
			fmt.Fprintf(&b, "%s:\n", sym)
		}
		if src, ok := comments[iter.Index]; ok {
			fmt.Fprintf(&b, "\t; %s\n", src)
		}
		fmt.Fprintf(&b, "%5d:\t%s\n", iter.Offset, FormatInstruction(*ins))
	}
	return b.String()
}

var sizeNames = map[asm.Size]string{asm.Byte: "u8", asm.Half: "u16", asm.Word: "u32", asm.DWord: "u64"}

var aluSymbols = map[asm.ALUOp]string{
	asm.Add: "+=", asm.Sub: "-=", asm.Mul: "*=", asm.Div: "/=", asm.Mod: "%=",
	asm.Or: "|=", asm.And: "&=", asm.LSh: "<<=", asm.RSh: ">>=", asm.ArSh: "s>>=",
	asm.Xor: "^=", asm.Mov: "=",
}

var jumpSymbols = map[asm.JumpOp]string{
	asm.JEq: "==", asm.JNE: "!=", asm.JGT: ">", asm.JGE: ">=", asm.JLT: "<", asm.JLE: "<=",
	asm.JSGT: "s>", asm.JSGE: "s>=", asm.JSLT: "s<", asm.JSLE: "s<=", asm.JSet: "&",
}

func off(o int16) string {
	if o < 0 {
		return fmt.Sprintf("%d", o)
	}
	return fmt.Sprintf("+%d", o)
}

// FormatInstruction renders one instruction in the verifier's syntax.
func FormatInstruction(ins asm.Instruction) string {
	op := ins.OpCode
	reg := func(r asm.Register, wide bool) string {
		if wide {
			return fmt.Sprintf("r%d", r)
		}
		return fmt.Sprintf("w%d", r)
	}
	if ins.IsLoadFromMap() {
		if ins.Src == asm.PseudoMapValue {
			return fmt.Sprintf("r%d = map_value[%s] + %d ll", ins.Dst, ins.Reference(), uint32(ins.Constant>>32))
		}
		return fmt.Sprintf("r%d = map[%s] ll", ins.Dst, ins.Reference())
	}
	switch cls := op.Class(); {
	case cls == asm.LdClass && ins.IsConstantLoad(asm.DWord):
		return fmt.Sprintf("r%d = %#x ll", ins.Dst, uint64(ins.Constant))
	case cls == asm.LdXClass:
		return fmt.Sprintf("r%d = *(%s *)(r%d %s)", ins.Dst, sizeNames[op.Size()], ins.Src, off(ins.Offset))
	case cls == asm.StClass:
		return fmt.Sprintf("*(%s *)(r%d %s) = %d", sizeNames[op.Size()], ins.Dst, off(ins.Offset), ins.Constant)
	case cls == asm.StXClass && op.Mode() == asm.AtomicMode:
		return fmt.Sprintf("lock *(%s *)(r%d %s) += r%d", sizeNames[op.Size()], ins.Dst, off(ins.Offset), ins.Src)
	case cls == asm.StXClass:
		return fmt.Sprintf("*(%s *)(r%d %s) = r%d", sizeNames[op.Size()], ins.Dst, off(ins.Offset), ins.Src)
	case cls.IsALU():
		wide := cls == asm.ALU64Class
		alu := op.ALUOp()
		if alu == asm.Neg {
			return fmt.Sprintf("%s = -%s", reg(ins.Dst, wide), reg(ins.Dst, wide))
		}
		sym, ok := aluSymbols[alu]
		if !ok {
			return fmt.Sprintf("%v", ins)
		}
		if op.Source() == asm.ImmSource {
			return fmt.Sprintf("%s %s %d", reg(ins.Dst, wide), sym, ins.Constant)
		}
		return fmt.Sprintf("%s %s %s", reg(ins.Dst, wide), sym, reg(ins.Src, wide))
	case cls.IsJump():
		wide := cls == asm.JumpClass
		target := ins.Reference()
		if target == "" {
			target = off(ins.Offset)
		}
		switch j := op.JumpOp(); j {
		case asm.Exit:
			return "exit"
		case asm.Call:
			fn := asm.BuiltinFunc(ins.Constant)
			return fmt.Sprintf("call %s#%d", helperName(fn), ins.Constant)
		case asm.Ja:
			return "goto " + target
		default:
			sym, ok := jumpSymbols[j]
			if !ok {
				return fmt.Sprintf("%v", ins)
			}
			if op.Source() == asm.ImmSource {
				return fmt.Sprintf("if %s %s %s goto %s", reg(ins.Dst, wide), sym, imm(ins.Constant), target)
			}
			return fmt.Sprintf("if %s %s %s goto %s", reg(ins.Dst, wide), sym, reg(ins.Src, wide), target)
		}
	}
	return fmt.Sprintf("%v", ins)
}

// helperName turns FnProbeReadKernel into bpf_probe_read_kernel.
func helperName(fn asm.BuiltinFunc) string {
	s := strings.TrimPrefix(fn.String(), "Fn")
	var b strings.Builder
	b.WriteString("bpf")
	for i, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		} else if i == 0 {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func imm(v int64) string {
	if v < 0 || v < 10 {
		return fmt.Sprintf("%d", v)
	}
	return fmt.Sprintf("%#x", v)
}
