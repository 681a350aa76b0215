package uprobe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadLDCache means /etc/ld.so.cache is in no format glibc writes.
var ErrBadLDCache = errors.New("bad ld.so.cache")

// ldCacheEntry is one library of ld.so.cache: its name (the soname the
// dynamic linker looks for) and its path.
type ldCacheEntry struct {
	Name  string
	Path  string
	Flags int32
	HWCap uint64
}

// ld.so.cache formats, from glibc's sysdeps/generic/dl-cache.h.
const (
	ldCacheOldMagic = "ld.so-1.7.0"
	ldCacheNewMagic = "glibc-ld.so.cache1.1"
	ldOldHeaderSize = 16 // magic[11], pad, nlibs
	ldOldEntrySize  = 12 // flags, key, value
	ldNewHeaderSize = 48 // magic[17], version[3], nlibs, len_strings, flags, pad[3], extension_offset, unused[3]
	ldNewEntrySize  = 24 // flags, key, value, osversion, hwcap

	ldFlagTypeMask     = 0x00ff
	ldFlagELFLibc6     = 0x0003
	ldFlagRequiredMask = 0xff00
	ldFlagX8664Lib64   = 0x0300
)

// ldCacheX8664 tells the entries of 64-bit x86 glibc libraries, the only
// ones a uprobe target on this architecture can be.
func ldCacheX8664(flags int32) bool {
	return flags&ldFlagTypeMask == ldFlagELFLibc6 && flags&ldFlagRequiredMask == ldFlagX8664Lib64
}

// parseLDCache parses the contents of /etc/ld.so.cache: the new format, on
// its own or after the old one, or the old format alone. Every count and
// offset is checked against the data's length.
func parseLDCache(data []byte) ([]ldCacheEntry, error) {
	le := binary.LittleEndian
	if bytes.HasPrefix(data, []byte(ldCacheOldMagic)) {
		if len(data) < ldOldHeaderSize {
			return nil, fmt.Errorf("%w: short header", ErrBadLDCache)
		}
		n := uint64(le.Uint32(data[12:]))
		end := uint64(ldOldHeaderSize) + n*ldOldEntrySize
		if end > uint64(len(data)) {
			return nil, fmt.Errorf("%w: %d entries do not fit", ErrBadLDCache, n)
		}
		// The new format follows, aligned to 8 bytes, if there is one.
		newStart := (end + 7) &^ 7
		if newStart < uint64(len(data)) && bytes.HasPrefix(data[newStart:], []byte(ldCacheNewMagic)) {
			return parseLDCacheNew(data[newStart:])
		}
		// Old format alone: strings follow the entries.
		strs := data[end:]
		entries := make([]ldCacheEntry, 0, n)
		for i := range n {
			e := data[ldOldHeaderSize+i*ldOldEntrySize:]
			name, ok1 := cString(strs, le.Uint32(e[4:]))
			path, ok2 := cString(strs, le.Uint32(e[8:]))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%w: entry %d: string outside the table", ErrBadLDCache, i)
			}
			entries = append(entries, ldCacheEntry{Name: name, Path: path, Flags: int32(le.Uint32(e))})
		}
		return entries, nil
	}
	if bytes.HasPrefix(data, []byte(ldCacheNewMagic)) {
		return parseLDCacheNew(data)
	}
	return nil, fmt.Errorf("%w: unknown magic", ErrBadLDCache)
}

// parseLDCacheNew parses the new format; string offsets count from its
// header.
func parseLDCacheNew(data []byte) ([]ldCacheEntry, error) {
	le := binary.LittleEndian
	if len(data) < ldNewHeaderSize {
		return nil, fmt.Errorf("%w: short header", ErrBadLDCache)
	}
	n := uint64(le.Uint32(data[20:]))
	if uint64(ldNewHeaderSize)+n*ldNewEntrySize > uint64(len(data)) {
		return nil, fmt.Errorf("%w: %d entries do not fit", ErrBadLDCache, n)
	}
	entries := make([]ldCacheEntry, 0, n)
	for i := range n {
		e := data[ldNewHeaderSize+i*ldNewEntrySize:]
		name, ok1 := cString(data, le.Uint32(e[4:]))
		path, ok2 := cString(data, le.Uint32(e[8:]))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: entry %d: string outside the file", ErrBadLDCache, i)
		}
		entries = append(entries, ldCacheEntry{
			Name:  name,
			Path:  path,
			Flags: int32(le.Uint32(e)),
			HWCap: le.Uint64(e[16:]),
		})
	}
	return entries, nil
}

// cString returns the NUL-terminated string at off in b.
func cString(b []byte, off uint32) (string, bool) {
	if uint64(off) >= uint64(len(b)) {
		return "", false
	}
	s := b[off:]
	i := bytes.IndexByte(s, 0)
	if i < 0 {
		return "", false
	}
	return string(s[:i]), true
}
