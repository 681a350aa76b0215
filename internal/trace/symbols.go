package trace

import (
	"github.com/bpfscope/bpfscope/pkg/symbols"
)

// maxProcesses bounds the processes whose mappings are kept: a trace of
// many short-lived processes does not grow without end.
const maxProcesses = 256

// symbolizer resolves %K, %U and stack addresses as bcc does, loading
// kallsyms and each process's mappings on first use.
type symbolizer struct {
	kernelTable *symbols.KernelTable
	kernelErr   error
	kernelDone  bool
	procs       map[uint32]*symbols.ProcessTable
}

func newSymbolizer() *symbolizer { return &symbolizer{procs: map[uint32]*symbols.ProcessTable{}} }

func (s *symbolizer) kernelSym(addr uint64) symbols.Symbol {
	if !s.kernelDone {
		s.kernelTable, s.kernelErr = symbols.Kernel()
		s.kernelDone = true
	}
	if s.kernelErr != nil {
		return symbols.Symbol{}
	}
	sym, _ := s.kernelTable.Resolve(addr)
	return sym
}

// kernel is bcc's ksym(addr, show_offset=True): "func+0x1a".
func (s *symbolizer) kernel(addr uint64) string {
	return symbols.Format(s.kernelSym(addr), false, true)
}

// kernelModule is a kernel stack frame, bcc's sym(addr, -1, show_module=True,
// show_offset=True): "func+0x1a [kernel]".
func (s *symbolizer) kernelModule(addr uint64) string {
	return symbols.Format(s.kernelSym(addr), true, true)
}

// user is bcc's sym(addr, tgid, show_module=True, show_offset=True):
// "func+0x1a [module]", "[unknown]" once the process is gone.
func (s *symbolizer) user(tgid uint32, addr uint64) string {
	p, ok := s.procs[tgid]
	if !ok {
		if len(s.procs) >= maxProcesses {
			clear(s.procs)
		}
		p, _ = symbols.Process(int(tgid))
		s.procs[tgid] = p
	}
	if p == nil {
		return symbols.Format(symbols.Symbol{}, true, true)
	}
	sym, ok := p.Resolve(addr)
	if !ok {
		// Mapped since the first look (dlopen): look again.
		if p.Refresh() == nil {
			sym, _ = p.Resolve(addr)
		}
	}
	return symbols.Format(sym, true, true)
}
