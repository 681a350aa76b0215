package uprobe

import (
	"debug/elf"
	"errors"
	"fmt"
	"strings"
)

// ErrSymbolNotFound means a binary defines no function of the given name.
var ErrSymbolNotFound = errors.New("symbol not found")

// ErrIFunc means a symbol is a GNU indirect function (such as glibc's memcpy
// or strlen): its address is that of a resolver that runs once, when the
// dynamic linker binds the symbol, not the function that calls reach.
var ErrIFunc = errors.New("symbol is an indirect function (IFUNC)")

// Symbol is a function found in an ELF symbol table.
type Symbol struct {
	// Name is the symbol's name; dynamic symbols carry their version,
	// NAME@@VERSION for the default one and NAME@VERSION for others.
	Name string
	// Value is the symbol's virtual address as linked.
	Value uint64
	// Size is the function's size in bytes (0 if unknown).
	Size uint64
	// Offset is the file offset of Value: what a uprobe is attached to.
	Offset uint64
	// IFunc tells a GNU indirect function (see ErrIFunc).
	IFunc bool
	// Dynamic tells that the symbol came from .dynsym rather than .symtab.
	Dynamic bool
}

// splitVersion splits "memcpy@@GLIBC_2.14" into "memcpy", "GLIBC_2.14" and
// true (the default version); "memcpy@GLIBC_2.2.5" into "memcpy",
// "GLIBC_2.2.5" and false.
func splitVersion(name string) (base, version string, dflt bool) {
	if i := strings.Index(name, "@@"); i > 0 {
		return name[:i], name[i+2:], true
	}
	if i := strings.Index(name, "@"); i > 0 {
		return name[:i], name[i+1:], false
	}
	return name, "", false
}

func isFunc(s elf.Symbol) bool {
	t := elf.ST_TYPE(s.Info)
	return t == elf.STT_FUNC || t == elf.STT_GNU_IFUNC
}

func defined(s elf.Symbol) bool {
	return s.Section != elf.SHN_UNDEF && s.Section != elf.SHN_ABS && s.Section < elf.SHN_LORESERVE && s.Value != 0
}

// dynName is a dynamic symbol's versioned name.
func dynName(s elf.Symbol) string {
	if !s.HasVersion || s.Version == "" {
		return s.Name
	}
	if s.VersionIndex.IsHidden() {
		return s.Name + "@" + s.Version
	}
	return s.Name + "@@" + s.Version
}

// symbols returns the symbols of .symtab and .dynsym, read once.
func (f *File) symbols() (static, dynamic []elf.Symbol, err error) {
	f.symOnce.Do(func() {
		if f.symErr = f.checkReadable(elf.SHT_SYMTAB, elf.SHT_DYNSYM, elf.SHT_GNU_VERSYM, elf.SHT_GNU_VERDEF, elf.SHT_GNU_VERNEED); f.symErr != nil {
			return
		}
		var err error
		f.static, err = safe(f.File.Symbols)
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			f.symErr = fmt.Errorf("read .symtab: %w", err)
			return
		}
		f.dynamic, err = safe(f.File.DynamicSymbols)
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			f.symErr = fmt.Errorf("read .dynsym: %w", err)
		}
	})
	return f.static, f.dynamic, f.symErr
}

// LookupFunction finds the function name in the file's .symtab and .dynsym
// and returns it with its file offset. Names may carry a version:
// "memcpy@@GLIBC_2.14" is the default version of memcpy, "memcpy@GLIBC_2.2.5"
// another one; an unversioned name matches an unversioned symbol or the
// default version. Where several functions have the name, global ones are
// preferred to local ones, then the first in the table.
func (f *File) LookupFunction(name string) (Symbol, error) {
	static, dynamic, err := f.symbols()
	if err != nil {
		return Symbol{}, err
	}
	base, version, dflt := splitVersion(name)

	var (
		best     *elf.Symbol
		bestDyn  bool
		imported bool
		notFunc  bool
	)
	consider := func(s *elf.Symbol, dyn bool) {
		if !defined(*s) {
			return
		}
		if !isFunc(*s) {
			notFunc = true
			return
		}
		if best == nil || (elf.ST_BIND(best.Info) == elf.STB_LOCAL && elf.ST_BIND(s.Info) != elf.STB_LOCAL) {
			best, bestDyn = s, dyn
		}
	}
	for i := range static {
		// .symtab spells versions into the name itself.
		if static[i].Name == name {
			consider(&static[i], false)
		}
	}
	for i := range dynamic {
		s := &dynamic[i]
		if s.Name != base {
			continue
		}
		if !defined(*s) {
			if isFunc(*s) || elf.ST_TYPE(s.Info) == elf.STT_NOTYPE {
				imported = true
			}
			continue
		}
		switch {
		case version == "":
			// Unversioned: the symbol's only or default version.
			if s.HasVersion && s.Version != "" && s.VersionIndex.IsHidden() {
				continue
			}
		case s.Version != version:
			continue
		case dflt && s.VersionIndex.IsHidden():
			continue
		}
		consider(s, true)
	}
	if best == nil {
		switch {
		case notFunc:
			return Symbol{}, fmt.Errorf("%s in %s: %w (it is not a function)", name, f.Path, ErrSymbolNotFound)
		case imported:
			return Symbol{}, fmt.Errorf("%s in %s: %w (it is imported from a shared library: trace it there, e.g. c:%s for libc)", name, f.Path, ErrSymbolNotFound, base)
		}
		return Symbol{}, fmt.Errorf("%s in %s: %w", name, f.Path, ErrSymbolNotFound)
	}
	off, err := f.FileOffset(best.Value, true)
	if err != nil {
		return Symbol{}, fmt.Errorf("%s in %s: %w", name, f.Path, err)
	}
	sym := Symbol{
		Name:    best.Name,
		Value:   best.Value,
		Size:    best.Size,
		Offset:  off,
		IFunc:   elf.ST_TYPE(best.Info) == elf.STT_GNU_IFUNC,
		Dynamic: bestDyn,
	}
	if bestDyn {
		sym.Name = dynName(*best)
	}
	return sym, nil
}

// LookupData finds the data object or function name (for USDT arguments
// such as "8@counter(%rip)") and returns its virtual address as linked.
func (f *File) LookupData(name string) (uint64, error) {
	static, dynamic, err := f.symbols()
	if err != nil {
		return 0, err
	}
	var local uint64
	for _, tab := range [][]elf.Symbol{static, dynamic} {
		for _, s := range tab {
			if s.Name != name || !defined(s) {
				continue
			}
			switch elf.ST_TYPE(s.Info) {
			case elf.STT_OBJECT, elf.STT_FUNC, elf.STT_NOTYPE, elf.STT_TLS:
			default:
				continue
			}
			if elf.ST_TYPE(s.Info) == elf.STT_TLS {
				return 0, fmt.Errorf("%s in %s: thread-local variables are not supported", name, f.Path)
			}
			if elf.ST_BIND(s.Info) != elf.STB_LOCAL {
				return s.Value, nil
			}
			if local == 0 {
				local = s.Value
			}
		}
	}
	if local != 0 {
		return local, nil
	}
	return 0, fmt.Errorf("%s in %s: %w", name, f.Path, ErrSymbolNotFound)
}

// Functions returns the names of the functions a file defines, versioned
// where dynamic, for listings and "did you mean" hints.
func (f *File) Functions() ([]string, error) {
	static, dynamic, err := f.symbols()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range static {
		if isFunc(s) && defined(s) {
			names = append(names, s.Name)
		}
	}
	for _, s := range dynamic {
		if isFunc(s) && defined(s) {
			names = append(names, dynName(s))
		}
	}
	return names, nil
}
