package compiler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfscope/bpfscope/pkg/probespec"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// usdtGroup is the call sites of a USDT probe that share one argument
// layout: they get one program, which reads the arguments inline (no spec
// map, no cookies, any kernel with uprobes).
type usdtGroup struct {
	args  []usdt.Arg
	sites []usdt.Probe
}

// ptRegs are the x86-64 struct pt_regs offsets by register name.
var ptRegs = map[string]int{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
	"r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112,
	"ip": 128, "sp": 152,
}

func (c *compiler) resolveUSDT(text string, h *hook) error {
	p := h.probe
	provider, name := "", p.Function
	sites, err := usdt.Find(p.Library, c.opts.PID, provider, name)
	if errors.Is(err, usdt.ErrProbeNotFound) {
		var names []string
		if all, err := usdt.Probes(p.Library, c.opts.PID); err == nil {
			for _, s := range all {
				if !slices.Contains(names, s.Name) {
					names = append(names, s.Name)
				}
			}
		}
		if len(names) == 0 {
			return probespec.Errorf(text, p.FunctionPos, "no USDT probe %q in %s: it has no USDT probes", name, p.Library)
		}
		return probespec.Errorf(text, p.FunctionPos, "no USDT probe %q in %s%s", name, p.Library, suggest(name, names))
	}
	if err != nil {
		return probespec.Errorf(text, p.LibraryPos, "%v", err)
	}
	var bad error
	for _, s := range sites {
		if s.Err == nil && s.Shared {
			for i, a := range s.Args {
				if a.Kind == usdt.ArgMem && a.Symbol != "" {
					s.Err = fmt.Errorf("argument %d is the global %s of a position-independent binary: not supported", i+1, a.Symbol)
				}
			}
		}
		if s.Err != nil {
			bad = s.Err
			continue
		}
		i := slices.IndexFunc(h.usdt, func(g usdtGroup) bool { return slices.Equal(g.args, s.Args) })
		if i < 0 {
			h.usdt = append(h.usdt, usdtGroup{args: s.Args})
			i = len(h.usdt) - 1
		}
		h.usdt[i].sites = append(h.usdt[i].sites, s)
	}
	if len(h.usdt) == 0 {
		return probespec.Errorf(text, p.FunctionPos, "USDT probe %s: no call site can be traced: %v", name, bad)
	}
	first := h.usdt[0].sites[0]
	h.kind, h.def, h.progType = hookUSDT, spaceUser, ebpf.Kprobe
	h.target = first.Target.Path
	h.section = fmt.Sprintf("usdt/%s:%s:%s", first.Target.Path, first.Provider, first.Name)
	// arg1..argN take the widest layout among the groups.
	for i := range h.usdt[0].args {
		size, signed := 0, false
		for _, g := range h.usdt {
			if i < len(g.args) && g.args[i].Size > size {
				size, signed = g.args[i].Size, g.args[i].Signed
			}
		}
		t := intType(fmt.Sprintf("%s%d", map[bool]string{true: "s", false: "u"}[signed], size*8), size, signed)
		h.args = append(h.args, arg{name: fmt.Sprintf("arg%d", i+1), typ: t, pos: -1, off: i})
	}
	return nil
}

// usdtArg checks argN of a USDT probe.
func (k *checker) usdtArg(e *probespec.Ident) (operand, error) {
	a, ok := k.h.arg(e.Name)
	if !ok {
		if len(k.h.args) == 0 {
			return operand{}, k.errorf(e.Pos(), "unknown name %q: USDT probe %s has no arguments", e.Name, k.h.probe.Function)
		}
		return operand{}, k.errorf(e.Pos(), "unknown name %q: USDT probe %s has the arguments %s", e.Name, k.h.probe.Function, strings.Join(k.h.argNames(), ", "))
	}
	return operand{t: a.typ, v: &ir{op: opUSDTArg, idx: a.off, t: a.typ}}, nil
}

// usdtArg reads argument idx of the group's layout into r0.
func (g *progGen) usdtArg(idx int, t *ctype) error {
	if g.usdt == nil || idx >= len(g.usdt.args) {
		return fmt.Errorf("internal error: USDT argument %d without a layout", idx+1)
	}
	a := g.usdt.args[idx]
	switch a.Kind {
	case usdt.ArgConst:
		g.movImm(asm.R0, uint64(a.Offset))
	case usdt.ArgReg:
		off, ok := ptRegs[a.Reg]
		if !ok {
			return fmt.Errorf("USDT argument %d: register %s not supported", idx+1, a.Reg)
		}
		g.emit(asm.LoadMem(asm.R0, rCtx, int16(off), asm.DWord))
		if a.RegHigh {
			g.emit(asm.RSh.Imm(asm.R0, 8))
		}
	case usdt.ArgMem:
		switch {
		case a.Symbol != "":
			g.movImm(asm.R0, a.Address+uint64(a.Offset))
		default:
			g.emit(asm.Mov.Imm(asm.R0, 0))
			if a.Reg != "" {
				off, ok := ptRegs[a.Reg]
				if !ok {
					return fmt.Errorf("USDT argument %d: register %s not supported", idx+1, a.Reg)
				}
				g.emit(asm.LoadMem(asm.R0, rCtx, int16(off), asm.DWord))
			}
			if a.Index != "" {
				off, ok := ptRegs[a.Index]
				if !ok {
					return fmt.Errorf("USDT argument %d: register %s not supported", idx+1, a.Index)
				}
				g.emit(asm.LoadMem(asm.R1, rCtx, int16(off), asm.DWord), asm.Mul.Imm(asm.R1, int32(max(a.Scale, 1))), asm.Add.Reg(asm.R0, asm.R1))
			}
			if a.Offset != 0 {
				g.movImm(asm.R1, uint64(a.Offset))
				g.emit(asm.Add.Reg(asm.R0, asm.R1))
			}
		}
		tmp := g.push(8)
		g.read(asm.R10, tmp, a.Size, spaceUser, false)
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, sizeOf(a.Size)))
		g.pop(8)
	default:
		return fmt.Errorf("USDT argument %d: kind %d not supported", idx+1, a.Kind)
	}
	g.extend(asm.R0, a.Size, a.Signed)
	g.normalize(t)
	return nil
}
