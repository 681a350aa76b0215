package symbols

import (
	"testing"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// TestMappingMath checks the way from a runtime address to the ELF
// virtual address: address - mapping start + mapping offset is the file
// offset, which the PT_LOAD segment holding it turns into a virtual
// address.
func TestMappingMath(t *testing.T) {
	// Segment layouts of real files (readelf -l).
	pie := []segment{ // /usr/bin/sleep: ET_DYN, vaddr = offset
		{off: 0, size: 0x1a08, vaddr: 0},
		{off: 0x2000, size: 0x3b41, vaddr: 0x2000, exec: true},
		{off: 0x6000, size: 0x16d0, vaddr: 0x6000},
		{off: 0x7bf0, size: 0x4b0, vaddr: 0x8bf0},
	}
	libc := []segment{ // a shared library linked by lld: text vaddr = offset + 0x1000
		{off: 0, size: 0x26c9c, vaddr: 0},
		{off: 0x26ca0, size: 0x15f3a0, vaddr: 0x27ca0, exec: true},
		{off: 0x186040, size: 0x5730, vaddr: 0x188040},
	}
	nopie := []segment{ // ET_EXEC at 0x400000
		{off: 0, size: 0x4c8, vaddr: 0x400000},
		{off: 0x1000, size: 0x1cd, vaddr: 0x401000, exec: true},
		{off: 0x2df0, size: 0x230, vaddr: 0x403df0},
	}
	oldStyle := []segment{ // text and data sharing file pages (-z noseparate-code)
		{off: 0, size: 0x7f4, vaddr: 0x400000, exec: true},
		{off: 0x7f0, size: 0x240, vaddr: 0x600e10},
	}
	tests := []struct {
		name  string
		segs  []segment
		m     uprobe.Mapping
		addr  uint64
		want  uint64
		found bool
	}{
		{"pie text", pie, uprobe.Mapping{Start: 0x55d0c0a02000, End: 0x55d0c0a06000, Offset: 0x2000}, 0x55d0c0a02a40, 0x2a40, true},
		{"pie text, second page", pie, uprobe.Mapping{Start: 0x55d0c0a02000, End: 0x55d0c0a06000, Offset: 0x2000}, 0x55d0c0a05b40, 0x5b40, true},
		{"shared library", libc, uprobe.Mapping{Start: 0x7f1234526000, End: 0x7f1234686000, Offset: 0x26000}, 0x7f1234527000, 0x28000, true},
		{"shared library, huge-page aligned", libc, uprobe.Mapping{Start: 0x7f1234400000, End: 0x7f1234600000, Offset: 0}, 0x7f1234426ca0, 0x27ca0, true},
		{"non-pie", nopie, uprobe.Mapping{Start: 0x401000, End: 0x402000, Offset: 0x1000}, 0x401136, 0x401136, true},
		{"old style, text before shared page", oldStyle, uprobe.Mapping{Start: 0x400000, End: 0x401000, Offset: 0}, 0x4007f2, 0x4007f2, true},
		{"past the segment's file bytes", nopie, uprobe.Mapping{Start: 0x401000, End: 0x402000, Offset: 0x1000}, 0x401f00, 0, false},
	}
	for _, tt := range tests {
		s := newSnapshot(1, []uprobe.Mapping{{Start: tt.m.Start, End: tt.m.End, Offset: tt.m.Offset, Perms: "r-xp", Inode: 1, Path: "/x"}})
		pm := &s.maps[0]
		mod := &elfModule{segs: tt.segs}
		got, ok := mod.vaddr(tt.addr - pm.start + pm.offset)
		if ok != tt.found || got != tt.want {
			t.Errorf("%s: %#x -> %#x, %v; want %#x, %v", tt.name, tt.addr, got, ok, tt.want, tt.found)
		}
	}
}

// TestLookup checks function lookup in a module: sizes, a function nested
// in another, one of unknown size, gaps.
func TestLookup(t *testing.T) {
	// Built as newELFModule does: starts sorted, parents set.
	m := &elfModule{
		addrs: []uint64{0x1000, 0x1010, 0x1020, 0x1100, 0x1200},
		funcs: []function{
			{end: 0x1008, parent: -1, name: "small"},
			{end: 0x1080, parent: -1, name: "outer"},
			{end: 0x1030, parent: 1, name: "inner"},
			{end: 0x1200, parent: -1, name: "nosize"}, // size 0: up to the next
			{end: 0x1210, parent: -1, name: "last"},
		},
	}
	tests := []struct {
		v    uint64
		want string
		off  uint64
	}{
		{0xfff, "", 0},
		{0x1000, "small", 0},
		{0x1008, "", 0}, // padding after small
		{0x1015, "outer", 5},
		{0x1025, "inner", 5},
		{0x1040, "outer", 0x30},
		{0x1080, "", 0},
		{0x11ff, "nosize", 0xff},
		{0x120f, "last", 0xf},
		{0x1210, "", 0},
	}
	for _, tt := range tests {
		name, off, ok := m.lookup(tt.v)
		if name != tt.want || off != tt.off || ok != (tt.want != "") {
			t.Errorf("lookup(%#x) = %q, %#x, %v; want %q, %#x", tt.v, name, off, ok, tt.want, tt.off)
		}
	}
}
