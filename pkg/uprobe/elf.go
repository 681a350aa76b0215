package uprobe

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// ErrBadELF means a file is not an ELF file this package can read, or its
// headers contradict its size.
var ErrBadELF = errors.New("bad ELF file")

// File is an ELF file opened with limits: the counts, sizes and offsets in
// its headers are checked against the file's size before debug/elf reads or
// allocates anything from them, and sections are read only if they lie
// inside the file and are not compressed. A hostile file thus costs at most
// a small multiple of its size in memory, and a panic inside debug/elf
// becomes an error.
type File struct {
	*elf.File
	// Path is the name the file was opened by.
	Path string
	size int64
	file *os.File

	symOnce         sync.Once
	static, dynamic []elf.Symbol
	symErr          error
}

// OpenELF opens the ELF file at path.
func OpenELF(path string) (*File, error) {
	f, err := openELF(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// openELF is OpenELF with errors that do not name the file.
func openELF(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: not a regular file", ErrBadELF)
	}
	ef, err := NewELF(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	ef.Path, ef.file = path, f
	return ef, nil
}

// NewELF reads an ELF file of the given size from r.
func NewELF(r io.ReaderAt, size int64) (f *File, err error) {
	if err := checkHeaders(r, size); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("%w: %v", ErrBadELF, p)
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadELF, err)
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if s.Offset > uint64(size) || s.FileSize > uint64(size)-s.Offset {
			return nil, fmt.Errorf("%w: section %q extends past the end of the file", ErrBadELF, s.Name)
		}
	}
	return &File{File: ef, size: size}, nil
}

// Close closes the file.
func (f *File) Close() error {
	if f.file != nil {
		return f.file.Close()
	}
	return nil
}

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.size }

// checkHeaders validates the ELF header's program and section header tables
// against the file size, so that debug/elf never sizes an allocation by a
// count the file cannot back.
func checkHeaders(r io.ReaderAt, size int64) error {
	var ident [elf.EI_NIDENT]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return fmt.Errorf("%w: short file", ErrBadELF)
	}
	if string(ident[:4]) != elf.ELFMAG {
		return fmt.Errorf("%w: no ELF magic", ErrBadELF)
	}
	var order binary.ByteOrder
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return fmt.Errorf("%w: unknown data encoding %d", ErrBadELF, ident[elf.EI_DATA])
	}
	var (
		phoff, shoff                            uint64
		phentsize, phnum, shentsize, shnum, idx uint64
		minPh, minSh                            uint64
	)
	switch elf.Class(ident[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		var h elf.Header64
		if err := binary.Read(io.NewSectionReader(r, 0, size), order, &h); err != nil {
			return fmt.Errorf("%w: short header", ErrBadELF)
		}
		phoff, shoff = h.Phoff, h.Shoff
		phentsize, phnum, shentsize, shnum, idx = uint64(h.Phentsize), uint64(h.Phnum), uint64(h.Shentsize), uint64(h.Shnum), uint64(h.Shstrndx)
		minPh, minSh = 56, 64
	case elf.ELFCLASS32:
		var h elf.Header32
		if err := binary.Read(io.NewSectionReader(r, 0, size), order, &h); err != nil {
			return fmt.Errorf("%w: short header", ErrBadELF)
		}
		phoff, shoff = uint64(h.Phoff), uint64(h.Shoff)
		phentsize, phnum, shentsize, shnum, idx = uint64(h.Phentsize), uint64(h.Phnum), uint64(h.Shentsize), uint64(h.Shnum), uint64(h.Shstrndx)
		minPh, minSh = 32, 40
	default:
		return fmt.Errorf("%w: unknown class %d", ErrBadELF, ident[elf.EI_CLASS])
	}
	fits := func(off, n, ent uint64) bool {
		// n and ent are at most 2^32 and 2^16: no overflow in n*ent.
		return off <= uint64(size) && n*ent <= uint64(size)-off
	}
	// Extended numbering: the real counts live in section header 0.
	if shoff != 0 && (shnum == 0 || phnum == 0xffff || idx == uint64(elf.SHN_XINDEX)) {
		if shentsize < minSh || !fits(shoff, 1, shentsize) {
			return fmt.Errorf("%w: section header table outside the file", ErrBadELF)
		}
		buf := make([]byte, minSh)
		if _, err := r.ReadAt(buf, int64(shoff)); err != nil {
			return fmt.Errorf("%w: section header 0: %w", ErrBadELF, err)
		}
		var sh0Size, sh0Link, sh0Info uint64
		if minSh == 64 {
			sh0Size, sh0Link, sh0Info = order.Uint64(buf[32:]), uint64(order.Uint32(buf[40:])), uint64(order.Uint32(buf[44:]))
		} else {
			sh0Size, sh0Link, sh0Info = uint64(order.Uint32(buf[20:])), uint64(order.Uint32(buf[24:])), uint64(order.Uint32(buf[28:]))
		}
		if shnum == 0 {
			shnum = sh0Size
		}
		if phnum == 0xffff {
			phnum = sh0Info
		}
		if idx == uint64(elf.SHN_XINDEX) {
			idx = sh0Link
		}
		if shnum > 1<<32 || phnum > 1<<32 {
			return fmt.Errorf("%w: absurd header counts", ErrBadELF)
		}
	}
	if phnum > 0 && (phentsize < minPh || !fits(phoff, phnum, phentsize)) {
		return fmt.Errorf("%w: %d program headers of %d bytes at %d do not fit in %d bytes", ErrBadELF, phnum, phentsize, phoff, size)
	}
	if shnum > 0 && (shentsize < minSh || !fits(shoff, shnum, shentsize)) {
		return fmt.Errorf("%w: %d section headers of %d bytes at %d do not fit in %d bytes", ErrBadELF, shnum, shentsize, shoff, size)
	}
	if shnum > 0 && idx >= shnum {
		return fmt.Errorf("%w: section name table index %d out of range", ErrBadELF, idx)
	}
	if shnum > 0 && idx != 0 {
		// debug/elf reads the section name table before anything else,
		// decompressing it if flagged so: refuse that, and a table larger
		// than the file.
		buf := make([]byte, minSh)
		if _, err := r.ReadAt(buf, int64(shoff+idx*shentsize)); err != nil {
			return fmt.Errorf("%w: section name table header: %w", ErrBadELF, err)
		}
		var flags, off, sz uint64
		if minSh == 64 {
			flags, off, sz = order.Uint64(buf[8:]), order.Uint64(buf[24:]), order.Uint64(buf[32:])
		} else {
			flags, off, sz = uint64(order.Uint32(buf[8:])), uint64(order.Uint32(buf[16:])), uint64(order.Uint32(buf[20:]))
		}
		if flags&uint64(elf.SHF_COMPRESSED) != 0 || !fits(off, 1, sz) {
			return fmt.Errorf("%w: section name table compressed or outside the file", ErrBadELF)
		}
	}
	return nil
}

// SectionData returns the contents of section s, which must lie inside the
// file and not be compressed.
func (f *File) SectionData(s *elf.Section) (data []byte, err error) {
	if s.Type == elf.SHT_NOBITS {
		return nil, fmt.Errorf("section %s: %w: has no file data", s.Name, ErrBadELF)
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		return nil, fmt.Errorf("section %s: %w: compressed", s.Name, ErrBadELF)
	}
	if s.Offset > uint64(f.size) || s.FileSize > uint64(f.size)-s.Offset {
		return nil, fmt.Errorf("section %s: %w: outside the file", s.Name, ErrBadELF)
	}
	data = make([]byte, s.FileSize)
	if _, err := s.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("section %s: %w", s.Name, err)
	}
	return data, nil
}

// safe runs fn, turning a panic inside debug/elf into an error.
func safe[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrBadELF, p)
		}
	}()
	return fn()
}

// checkReadable makes sure that the sections of the given types, and the
// string tables they link to, can be read by debug/elf within limits: not
// compressed (a small file could claim gigabytes of inflated data).
func (f *File) checkReadable(types ...elf.SectionType) error {
	compressed := func(s *elf.Section) bool {
		return s.Flags&elf.SHF_COMPRESSED != 0 || strings.HasPrefix(s.Name, ".zdebug")
	}
	for _, s := range f.Sections {
		if !slices.Contains(types, s.Type) {
			continue
		}
		if compressed(s) {
			return fmt.Errorf("section %s: %w: compressed", s.Name, ErrBadELF)
		}
		if s.Link != 0 && int(s.Link) < len(f.Sections) && compressed(f.Sections[s.Link]) {
			return fmt.Errorf("section %s: %w: compressed", f.Sections[s.Link].Name, ErrBadELF)
		}
	}
	return nil
}

// FileOffset returns the file offset at which the loadable segment holding
// virtual address vaddr has it. exec limits the search to executable
// segments.
func (f *File) FileOffset(vaddr uint64, exec bool) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || (exec && p.Flags&elf.PF_X == 0) {
			continue
		}
		if p.Vaddr <= vaddr && vaddr-p.Vaddr < p.Filesz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	kind := "loadable"
	if exec {
		kind = "executable"
	}
	return 0, fmt.Errorf("address %#x: %w: in no %s segment", vaddr, ErrBadELF, kind)
}
