package compiler

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/probespec"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// resolveUprobe finds a user function: its binary (pkg/uprobe's target
// resolution: "c" is libc), its file offset, and its arguments in pt_regs.
func (c *compiler) resolveUprobe(text string, h *hook) error {
	p := h.probe
	t, err := uprobe.FindTarget(p.Library, c.opts.PID)
	if err != nil {
		return probespec.Errorf(text, p.LibraryPos, "%v", err)
	}
	f, err := uprobe.OpenELF(t.HostPath)
	if err != nil {
		return probespec.Errorf(text, p.LibraryPos, "%s: %v", t.Path, err)
	}
	defer f.Close()
	sym, err := f.LookupFunction(p.Function)
	if errors.Is(err, uprobe.ErrSymbolNotFound) {
		names, _ := f.Functions()
		return probespec.Errorf(text, p.FunctionPos, "no function %q in %s%s", p.Function, t.Path, suggest(p.Function, names))
	}
	if err != nil {
		return probespec.Errorf(text, p.FunctionPos, "%s in %s: %v", p.Function, t.Path, err)
	}
	if sym.IFunc {
		return probespec.Errorf(text, p.FunctionPos, "%s in %s: %v: a uprobe there fires when the dynamic linker binds it, not on calls", p.Function, t.Path, uprobe.ErrIFunc)
	}
	h.kind, h.def = hookUprobe, spaceUser
	h.progType = ebpf.Kprobe
	h.path, h.symbol, h.offset, h.target = t.HostPath, p.Function, sym.Offset, t.Path
	kind := "uprobe"
	if h.ret {
		kind = "uretprobe"
	}
	h.section = fmt.Sprintf("%s/%s:%s", kind, t.Path, p.Function)
	for i, prm := range p.Params {
		typ, err := c.types.resolve(prm.Type, spaceUser)
		if err != nil {
			return probespec.Errorf(text, prm.Type.Pos, "%v", err)
		}
		a := arg{name: prm.Name, typ: typ, pos: prm.Pos}
		c.ptRegsArg(&a, i)
		h.args = append(h.args, a)
	}
	h.retType, h.retOff = tLong, ptRegsAX
	return nil
}
