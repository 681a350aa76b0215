package symbols

import (
	"cmp"
	"debug/elf"
	"slices"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// elfModule is the function table of one ELF file, as linked.
type elfModule struct {
	segs  []segment
	addrs []uint64 // function starts, sorted, distinct
	funcs []function
}

// segment is a PT_LOAD program header: file bytes [off, off+size) are at
// virtual addresses [vaddr, vaddr+size).
type segment struct {
	off, size, vaddr uint64
	exec             bool
}

type function struct {
	end    uint64 // first address past the function
	parent int32  // nearest earlier function that reaches past this one's start, or -1
	name   string
}

// loadELF reads the function table of the ELF file at path.
func loadELF(path string) (*elfModule, error) {
	f, err := uprobe.OpenELF(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return newELFModule(f)
}

func newELFModule(f *uprobe.File) (*elfModule, error) {
	m := &elfModule{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Filesz > 0 {
			m.segs = append(m.segs, segment{off: p.Off, size: p.Filesz, vaddr: p.Vaddr, exec: p.Flags&elf.PF_X != 0})
		}
	}
	static, dynamic, err := f.FunctionSymbols()
	if err != nil {
		return nil, err
	}
	type cand struct {
		addr, size uint64
		name       string
		rank       int
	}
	cands := make([]cand, 0, len(static)+len(dynamic))
	for i, tab := range [][]elf.Symbol{static, dynamic} {
		for _, s := range tab {
			c := cand{addr: s.Value, size: s.Size, name: s.Name, rank: aliasRank(s.Name, elf.ST_BIND(s.Info) == elf.STB_WEAK, elf.ST_BIND(s.Info) == elf.STB_LOCAL)<<1 + i}
			if s.Size == 0 {
				c.rank += 1 << 20
			}
			cands = append(cands, c)
		}
	}
	if len(static) == 0 {
		// A Go program stripped of .symtab still has its .gopclntab.
		gofns, err := goFunctions(f)
		if err != nil {
			return nil, err
		}
		for _, g := range gofns {
			cands = append(cands, cand{addr: g.entry, size: g.end - g.entry, name: g.name})
		}
	}
	// One name per address: the best ranked.
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.addr, b.addr), cmp.Compare(a.rank, b.rank), cmp.Compare(len(a.name), len(b.name)), strings.Compare(a.name, b.name))
	})
	cands = slices.CompactFunc(cands, func(a, b cand) bool { return a.addr == b.addr })

	m.addrs = make([]uint64, len(cands))
	m.funcs = make([]function, len(cands))
	var open []int32 // functions whose end lies past the current start
	for i, c := range cands {
		end := c.addr + c.size
		if c.size == 0 {
			// Unknown size: up to the next function.
			end = c.addr
			if i+1 < len(cands) {
				end = cands[i+1].addr
			}
		}
		if end < c.addr {
			end = ^uint64(0)
		}
		for len(open) > 0 && m.funcs[open[len(open)-1]].end <= c.addr {
			open = open[:len(open)-1]
		}
		parent := int32(-1)
		if len(open) > 0 {
			parent = open[len(open)-1]
		}
		m.addrs[i] = c.addr
		m.funcs[i] = function{end: end, parent: parent, name: c.name}
		open = append(open, int32(i))
	}
	return m, nil
}

// vaddr returns the virtual address, as linked, of the byte at file offset
// off, looking in executable segments first.
func (m *elfModule) vaddr(off uint64) (uint64, bool) {
	return fileToVaddr(m.segs, off)
}

func fileToVaddr(segs []segment, off uint64) (uint64, bool) {
	for _, exec := range []bool{true, false} {
		for _, s := range segs {
			if s.exec == exec && s.off <= off && off-s.off < s.size {
				return off - s.off + s.vaddr, true
			}
		}
	}
	return 0, false
}

// lookup returns the innermost function holding virtual address v and
// v's offset in it.
func (m *elfModule) lookup(v uint64) (string, uint64, bool) {
	i, found := slices.BinarySearch(m.addrs, v)
	if !found {
		i--
	}
	for i >= 0 {
		if v < m.funcs[i].end {
			return m.funcs[i].name, v - m.addrs[i], true
		}
		i = int(m.funcs[i].parent)
	}
	return "", 0, false
}
