package symbols

import (
	"debug/elf"
	"debug/gosym"
	"fmt"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// goFunc is a function found in a Go binary's .gopclntab.
type goFunc struct {
	entry, end uint64
	name       string
}

// goFunctions reads the functions of a Go binary from its .gopclntab, which
// Go programs keep when stripped of .symtab (go build -ldflags=-s, go test,
// go run). It returns nothing for other files.
func goFunctions(f *uprobe.File) (fns []goFunc, err error) {
	sec := f.Section(".gopclntab")
	text := f.Section(".text")
	if sec == nil || text == nil {
		return nil, nil
	}
	data, err := f.SectionData(sec)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			fns, err = nil, fmt.Errorf("%w: .gopclntab: %v", uprobe.ErrBadELF, p)
		}
	}()
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, goTextStart(f, data, text.Addr)))
	if err != nil {
		return nil, fmt.Errorf("%w: .gopclntab: %w", uprobe.ErrBadELF, err)
	}
	fns = make([]goFunc, 0, len(tab.Funcs))
	for _, fn := range tab.Funcs {
		if fn.Sym != nil && fn.End > fn.Entry {
			fns = append(fns, goFunc{entry: fn.Entry, end: fn.End, name: fn.Name})
		}
	}
	return fns, nil
}

// goTextStart is the address of runtime.text, which the function entries
// of .gopclntab count from: Go 1.18 and later record it in the table's
// header (it differs from the start of .text with cgo); where it is not
// there, or not relocated (PIE), the start of .text.
func goTextStart(f *uprobe.File, data []byte, text uint64) uint64 {
	if len(data) < 8 {
		return text
	}
	magic := f.ByteOrder.Uint32(data)
	ptrSize := int(data[7])
	if (magic != 0xfffffff0 && magic != 0xfffffff1) || (ptrSize != 4 && ptrSize != 8) || len(data) < 8+3*ptrSize {
		return text
	}
	var start uint64
	if ptrSize == 8 {
		start = f.ByteOrder.Uint64(data[8+2*ptrSize:])
	} else {
		start = uint64(f.ByteOrder.Uint32(data[8+2*ptrSize:]))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= start && start-p.Vaddr < p.Memsz {
			return start
		}
	}
	return text
}
