package usdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadNote means a .note.stapsdt section is malformed.
var ErrBadNote = errors.New("bad .note.stapsdt")

// Note is one entry of .note.stapsdt, as sys/sdt.h writes it.
type Note struct {
	Provider string
	Name     string
	// Location is the call site's address as linked (before the
	// .stapsdt.base adjustment).
	Location uint64
	// Base is the address of .stapsdt.base as linked.
	Base uint64
	// Semaphore is the address of the probe's semaphore, 0 for none.
	Semaphore uint64
	// Args is the argument string: "-4@%edi 8@-16(%rbp)".
	Args string
}

// stapsdt note type and owner.
const (
	ntStapsdt    = 3
	stapsdtOwner = "stapsdt"
	// maxNoteString bounds provider and probe names (sys/sdt.h makes them
	// C identifiers; this is generous).
	maxNoteString = 4096
)

// parseNotes parses the contents of a .note.stapsdt section; addrSize is 8
// for ELFCLASS64, 4 for ELFCLASS32. Notes of other owners or types are
// skipped. Every size is checked against the data, so a hostile section
// costs no more memory than its own length.
func parseNotes(data []byte, order binary.ByteOrder, addrSize int) ([]Note, error) {
	if addrSize != 4 && addrSize != 8 {
		return nil, fmt.Errorf("%w: address size %d", ErrBadNote, addrSize)
	}
	var notes []Note
	for off := 0; off < len(data); {
		if len(data)-off < 12 {
			// Trailing padding is allowed; anything else is not.
			if allZero(data[off:]) {
				break
			}
			return nil, fmt.Errorf("%w: truncated note header at %d", ErrBadNote, off)
		}
		namesz := uint64(order.Uint32(data[off:]))
		descsz := uint64(order.Uint32(data[off+4:]))
		typ := order.Uint32(data[off+8:])
		pos := uint64(off + 12)
		nameEnd := pos + namesz
		descStart := align4(nameEnd)
		descEnd := descStart + descsz
		if nameEnd > uint64(len(data)) || descEnd > uint64(len(data)) {
			return nil, fmt.Errorf("%w: note at %d (name %d, desc %d bytes) runs past the section's %d bytes", ErrBadNote, off, namesz, descsz, len(data))
		}
		name := string(bytes.TrimRight(data[pos:nameEnd], "\x00"))
		next := align4(descEnd)
		if next > uint64(len(data)) {
			next = uint64(len(data))
		}
		if name == stapsdtOwner && typ == ntStapsdt {
			n, err := parseNoteDesc(data[descStart:descEnd], order, addrSize)
			if err != nil {
				return nil, fmt.Errorf("note at %d: %w", off, err)
			}
			notes = append(notes, n)
		}
		off = int(next)
	}
	return notes, nil
}

func parseNoteDesc(desc []byte, order binary.ByteOrder, addrSize int) (Note, error) {
	var n Note
	if len(desc) < 3*addrSize+3 {
		return n, fmt.Errorf("%w: descriptor of %d bytes too short", ErrBadNote, len(desc))
	}
	addr := func(i int) uint64 {
		if addrSize == 8 {
			return order.Uint64(desc[i*8:])
		}
		return uint64(order.Uint32(desc[i*4:]))
	}
	n.Location, n.Base, n.Semaphore = addr(0), addr(1), addr(2)
	rest := desc[3*addrSize:]
	var strs [3]string
	for i := range strs {
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return n, fmt.Errorf("%w: unterminated string in descriptor", ErrBadNote)
		}
		if i < 2 && (j == 0 || j > maxNoteString) {
			return n, fmt.Errorf("%w: provider or probe name of %d bytes", ErrBadNote, j)
		}
		strs[i] = string(rest[:j])
		rest = rest[j+1:]
	}
	n.Provider, n.Name, n.Args = strs[0], strs[1], strs[2]
	return n, nil
}

func align4(v uint64) uint64 { return (v + 3) &^ 3 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
