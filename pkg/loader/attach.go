package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// attachAll attaches every program whose section names its hook, in the
// style of libbpf's skeletons. Programs of other sections are left to the
// caller.
func (o *Object) attachAll(spec *ebpf.CollectionSpec) error {
	for name, ps := range spec.Programs {
		prog := o.Collection.Programs[name]
		if prog == nil {
			continue
		}
		l, err := attach(ps, prog)
		if err != nil {
			return fmt.Errorf("attach %s: %w", name, err)
		}
		if l != nil {
			o.links = append(o.links, l)
		}
	}
	return nil
}

func attach(ps *ebpf.ProgramSpec, prog *ebpf.Program) (link.Link, error) {
	section := ps.SectionName
	switch {
	case strings.HasPrefix(section, "kprobe/"), strings.HasPrefix(section, "kretprobe/"):
		return attachKprobe(ps.AttachTo, prog, strings.HasPrefix(section, "kretprobe/"))
	case ps.Type == ebpf.TracePoint:
		group, name, ok := strings.Cut(ps.AttachTo, "/")
		if !ok {
			return nil, fmt.Errorf("section %s: want tracepoint/GROUP/NAME", section)
		}
		l, err := link.Tracepoint(group, name, prog, nil)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tracepoint %s:%s: %w (not in this kernel)", group, name, err)
		}
		return l, err
	case ps.Type == ebpf.RawTracepoint:
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: ps.AttachTo, Program: prog})
	case ps.Type == ebpf.Tracing:
		return link.AttachTracing(link.TracingOptions{Program: prog})
	}
	return nil, nil
}

// attachKprobe attaches a kprobe or kretprobe on fn, or on its compiler
// clone. A missing symbol and a kernel without kprobes are told apart: the
// latter is caught by the Kprobes feature before we get here, and the symbol
// is looked up in kallsyms first.
func attachKprobe(fn string, prog *ebpf.Program, ret bool) (link.Link, error) {
	if err := Have(Kprobes); err != nil {
		return nil, err
	}
	sym, err := ResolveKernelSymbol(fn)
	if err != nil {
		return nil, err
	}
	if ret {
		return link.Kretprobe(sym, prog, nil)
	}
	return link.Kprobe(sym, prog, nil)
}
