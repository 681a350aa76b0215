package symbols

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// ErrRestricted means /proc/kallsyms hides the kernel's addresses (it
// shows them as zeros to readers without CAP_SYSLOG, or to everyone with
// kernel.kptr_restrict=2).
var ErrRestricted = errors.New("kallsyms hides addresses")

// KernelTable is the kernel's text symbols, sorted by address.
type KernelTable struct {
	addrs []uint64 // sorted, distinct: what Resolve searches
	syms  []ksym   // parallel to addrs
	names string   // every name, end to end
	mods  []string // module names; mods[0] is "kernel"
}

type ksym struct {
	end       uint64 // first address past the symbol
	name, len uint32 // the name is names[name:name+len]
	mod       uint32 // index into mods
}

// maxTail bounds the last symbol of the table, which no following symbol
// ends: an address more than this past it is in no known function.
const maxTail = 1 << 20

// terminators are text symbols that mark an end of kernel text: what
// follows them, up to the next symbol, is not code.
var terminators = map[string]bool{"_etext": true, "_einittext": true}

var kernel struct {
	once  sync.Once
	table *KernelTable
	err   error
}

// Kernel returns the kernel's symbol table, read from /proc/kallsyms on
// first use; later calls return the same table (or error).
func Kernel() (*KernelTable, error) {
	kernel.once.Do(func() {
		kernel.table, kernel.err = readKallsyms("/proc/kallsyms")
	})
	return kernel.table, kernel.err
}

func readKallsyms(path string) (*KernelTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ParseKallsyms(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseKallsyms reads the text of /proc/kallsyms:
//
//	ffffffff82266810 T schedule
//	ffffffffc0a3c010 t vmx_vcpu_run	[kvm_intel]
//
// It keeps the text symbols (types t, T, w and W) that have an address;
// the other symbols, and the markers _etext and _einittext, only end the
// text symbol before them. Where several names share an address, global
// ones are preferred to weak ones and weak ones to local ones, then those
// with fewer leading underscores, then the first listed. If every address
// is zero, the error wraps ErrRestricted.
func ParseKallsyms(r io.Reader) (*KernelTable, error) {
	type entry struct {
		addr      uint64
		name, len uint32
		mod       uint32
		rank      int
		order     int
	}
	var (
		entries []entry
		bounds  []uint64
		names   strings.Builder
		mods    = []string{"kernel"}
		modIdx  = map[string]uint32{"kernel": 0}
		lines   int
		listed  int // symbols
		nonZero bool
	)
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 1<<16), 1<<16)
	for s.Scan() {
		lines++
		line := s.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		addr, typ, name, mod, err := parseKallsymsLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lines, err)
		}
		listed++
		if addr == 0 {
			continue
		}
		nonZero = true
		if !isText(typ) || terminators[string(name)] {
			bounds = append(bounds, addr)
			continue
		}
		mi, ok := modIdx[string(mod)]
		if !ok {
			mi = uint32(len(mods))
			mods = append(mods, string(mod))
			modIdx[string(mod)] = mi
		}
		if names.Len()+len(name) > 1<<32-1 {
			return nil, errors.New("too many symbols")
		}
		e := entry{addr: addr, name: uint32(names.Len()), len: uint32(len(name)), mod: mi, order: len(entries)}
		names.Write(name)
		e.rank = aliasRank(name, typ == 'w' || typ == 'W', typ == 't' || typ == 'w')
		entries = append(entries, e)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lines+1, err)
	}
	if listed > 0 && !nonZero {
		return nil, fmt.Errorf("%w: all %d symbols at address 0 (run as root, with kernel.kptr_restrict 0 or 1)", ErrRestricted, listed)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.addr, b.addr), cmp.Compare(a.rank, b.rank), cmp.Compare(a.order, b.order))
	})
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return a.addr == b.addr })
	slices.Sort(bounds)

	t := &KernelTable{
		addrs: make([]uint64, len(entries)),
		syms:  make([]ksym, len(entries)),
		names: names.String(),
		mods:  mods,
	}
	b := 0
	for i, e := range entries {
		end := e.addr + maxTail
		if end < e.addr {
			end = ^uint64(0)
		}
		if i+1 < len(entries) {
			end = entries[i+1].addr
		}
		for b < len(bounds) && bounds[b] <= e.addr {
			b++
		}
		if b < len(bounds) && bounds[b] < end {
			end = bounds[b]
		}
		t.addrs[i] = e.addr
		t.syms[i] = ksym{end: end, name: e.name, len: e.len, mod: e.mod}
	}
	return t, nil
}

// parseKallsymsLine splits "ADDR TYPE NAME[\t[MODULE]]". The slices
// returned point into line.
func parseKallsymsLine(line []byte) (addr uint64, typ byte, name, mod []byte, err error) {
	var f [4][]byte
	n := 0
	for rest := line; ; n++ {
		rest = bytes.TrimLeft(rest, " \t")
		if len(rest) == 0 {
			break
		}
		if n == len(f) {
			return 0, 0, nil, nil, fmt.Errorf("%q: want address, type, name and optionally [module]", line)
		}
		i := bytes.IndexAny(rest, " \t")
		if i < 0 {
			i = len(rest)
		}
		f[n], rest = rest[:i], rest[i:]
	}
	if n < 3 {
		return 0, 0, nil, nil, fmt.Errorf("%q: want address, type, name and optionally [module]", line)
	}
	if len(f[0]) > 16 {
		return 0, 0, nil, nil, fmt.Errorf("%q: bad address", line)
	}
	for _, c := range f[0] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, 0, nil, nil, fmt.Errorf("%q: bad address", line)
		}
		addr = addr<<4 | uint64(d)
	}
	if len(f[1]) != 1 {
		return 0, 0, nil, nil, fmt.Errorf("%q: bad symbol type", line)
	}
	typ, name, mod = f[1][0], f[2], kernelModule
	if n == 4 {
		m, open := bytes.CutPrefix(f[3], []byte("["))
		m, closed := bytes.CutSuffix(m, []byte("]"))
		if !open || !closed || len(m) == 0 {
			return 0, 0, nil, nil, fmt.Errorf("%q: bad module", line)
		}
		mod = m
	}
	return addr, typ, name, mod, nil
}

var kernelModule = []byte("kernel")

func isText(typ byte) bool {
	return typ == 't' || typ == 'T' || typ == 'w' || typ == 'W'
}

// aliasRank orders names sharing an address, best first: global, then
// weak, then local; then fewer leading underscores.
func aliasRank[S ~string | ~[]byte](name S, weak, local bool) int {
	r := 0
	for r < len(name) && name[r] == '_' {
		r++
	}
	if weak {
		r += 1 << 9
	}
	if local {
		r += 1 << 10
	}
	return r
}

// Len is the number of text symbols in the table.
func (t *KernelTable) Len() int { return len(t.addrs) }

// Resolve returns the symbol with the greatest address not above addr, and
// true, unless addr lies before the first symbol or past the end of the
// symbol's code (at the next symbol of any kind, at the end of kernel text,
// or 1 MiB past the last symbol). Without a symbol, Offset is addr.
func (t *KernelTable) Resolve(addr uint64) (Symbol, bool) {
	i, found := slices.BinarySearch(t.addrs, addr)
	if !found {
		i--
	}
	if i < 0 || addr >= t.syms[i].end {
		return Symbol{Offset: addr}, false
	}
	s := &t.syms[i]
	return Symbol{
		Name:   t.names[s.name : s.name+s.len],
		Module: t.mods[s.mod],
		Offset: addr - t.addrs[i],
	}, true
}
