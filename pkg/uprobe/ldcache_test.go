package uprobe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// buildLDCache writes an ld.so.cache: the new format, optionally after the
// old one (oldToo), or the old format alone (oldOnly).
func buildLDCache(entries []ldCacheEntry, oldToo, oldOnly bool) []byte {
	le := binary.LittleEndian
	var strs bytes.Buffer
	var off []uint32
	strBase := uint32(ldNewHeaderSize + len(entries)*ldNewEntrySize)
	if oldOnly {
		strBase = 0
	}
	for _, e := range entries {
		off = append(off, strBase+uint32(strs.Len()))
		strs.WriteString(e.Name + "\x00")
		off = append(off, strBase+uint32(strs.Len()))
		strs.WriteString(e.Path + "\x00")
	}
	var b bytes.Buffer
	if oldToo || oldOnly {
		b.WriteString(ldCacheOldMagic + "\x00")
		binary.Write(&b, le, uint32(len(entries)))
		for i, e := range entries {
			binary.Write(&b, le, e.Flags)
			binary.Write(&b, le, off[2*i])
			binary.Write(&b, le, off[2*i+1])
		}
		if oldOnly {
			b.Write(strs.Bytes())
			return b.Bytes()
		}
		for b.Len()%8 != 0 {
			b.WriteByte(0)
		}
	}
	b.WriteString(ldCacheNewMagic)
	binary.Write(&b, le, uint32(len(entries)))
	binary.Write(&b, le, uint32(strs.Len()))
	b.Write(make([]byte, 20))
	for i, e := range entries {
		binary.Write(&b, le, e.Flags)
		binary.Write(&b, le, off[2*i])
		binary.Write(&b, le, off[2*i+1])
		binary.Write(&b, le, uint32(0))
		binary.Write(&b, le, e.HWCap)
	}
	b.Write(strs.Bytes())
	return b.Bytes()
}

var cacheEntries = []ldCacheEntry{
	{Name: "libz.so.1", Path: "/lib/x86_64-linux-gnu/libz.so.1", Flags: 0x0303},
	{Name: "libc.so.6", Path: "/lib/x86_64-linux-gnu/libc.so.6", Flags: 0x0303},
	{Name: "libc.so.6", Path: "/lib32/libc.so.6", Flags: 0x0003},
	{Name: "libfoo.so.1", Path: "/opt/hw/libfoo.so.1", Flags: 0x0303, HWCap: 1 << 62},
}

func TestParseLDCache(t *testing.T) {
	for name, data := range map[string][]byte{
		"new":     buildLDCache(cacheEntries, false, false),
		"old+new": buildLDCache(cacheEntries, true, false),
		"old":     buildLDCache(cacheEntries, false, true),
	} {
		got, err := parseLDCache(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(cacheEntries) {
			t.Fatalf("%s: %d entries, want %d", name, len(got), len(cacheEntries))
		}
		for i, e := range cacheEntries {
			if name == "old" {
				e.HWCap = 0
			}
			if got[i] != e {
				t.Errorf("%s entry %d = %+v, want %+v", name, i, got[i], e)
			}
		}
		if !ldCacheX8664(got[1].Flags) || ldCacheX8664(got[2].Flags) {
			t.Errorf("%s: x86-64 flags misread", name)
		}
	}
}

func TestParseLDCacheErrors(t *testing.T) {
	good := buildLDCache(cacheEntries, false, false)
	absurd := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(absurd[20:], 0xffffffff)
	badStr := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badStr[ldNewHeaderSize+4:], 0x7fffffff)
	oldAbsurd := buildLDCache(cacheEntries, false, true)
	binary.LittleEndian.PutUint32(oldAbsurd[12:], 0xffffffff)
	for name, data := range map[string][]byte{
		"empty":        nil,
		"magic":        []byte("not a cache at all, no"),
		"short header": good[:30],
		"absurd count": absurd,
		"bad string":   badStr,
		"old absurd":   oldAbsurd,
		"truncated":    good[:len(good)-10],
	} {
		if e, err := parseLDCache(data); !errors.Is(err, ErrBadLDCache) {
			t.Errorf("%s: %d entries, %v; want ErrBadLDCache", name, len(e), err)
		}
	}
}

// TestSystemLDCache reads this machine's cache, where there is one.
func TestSystemLDCache(t *testing.T) {
	data, err := os.ReadFile("/etc/ld.so.cache")
	if err != nil {
		t.Skipf("no ld.so.cache here: %v", err)
	}
	entries, err := parseLDCache(data)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Name == "libc.so.6" && ldCacheX8664(e.Flags) && strings.HasSuffix(e.Path, "/libc.so.6") {
			found = true
		}
	}
	if !found {
		t.Errorf("%d entries and no 64-bit libc.so.6", len(entries))
	}
	t.Logf("%d entries", len(entries))
}

func FuzzParseLDCache(f *testing.F) {
	f.Add(buildLDCache(cacheEntries, false, false))
	f.Add(buildLDCache(cacheEntries, true, false))
	f.Add(buildLDCache(cacheEntries, false, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseLDCache(data)
		if err != nil {
			if !errors.Is(err, ErrBadLDCache) {
				t.Fatalf("error %v does not wrap ErrBadLDCache", err)
			}
			return
		}
		// At least 12 bytes of entry per entry: memory bounded by input.
		if len(entries)*ldOldEntrySize > len(data) {
			t.Fatalf("%d entries from %d bytes", len(entries), len(data))
		}
	})
}
