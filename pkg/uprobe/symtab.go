package uprobe

import "debug/elf"

// FunctionSymbols returns the functions the file defines (STT_FUNC and
// STT_GNU_IFUNC symbols with a section and a nonzero address) in .symtab and
// in .dynsym, each in table order. Dynamic symbols carry their version in
// Version, not in Name. The tables are read once, within the limits of
// File; the slices returned are the caller's.
func (f *File) FunctionSymbols() (static, dynamic []elf.Symbol, err error) {
	st, dyn, err := f.symbols()
	if err != nil {
		return nil, nil, err
	}
	keep := func(tab []elf.Symbol) []elf.Symbol {
		var out []elf.Symbol
		for _, s := range tab {
			if isFunc(s) && defined(s) {
				out = append(out, s)
			}
		}
		return out
	}
	return keep(st), keep(dyn), nil
}
