package compiler

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// FieldKind is how a collected value is stored and shown.
type FieldKind int

const (
	// Int is an integer, shown in decimal.
	Int FieldKind = iota
	// Pointer is an address, shown in hex.
	Pointer
	// String is a NUL-padded string.
	String
)

// Field is one value in a record (a count map's key).
type Field struct {
	// Text is the expression as written.
	Text   string
	Offset int
	Size   int
	Kind   FieldKind
	Signed bool
}

// Layout is a record: the values of a Count probe's key, in order, each at
// its natural alignment.
type Layout struct {
	Size   int
	Fields []Field
}

func (c *compiler) layout(vals []value) Layout { return c.layoutFrom(vals, 0) }

// layoutFrom lays the values out after start bytes (an event's header).
func (c *compiler) layoutFrom(vals []value, start int) Layout {
	l := Layout{Size: start}
	for _, v := range vals {
		f := Field{Text: v.text}
		switch {
		case v.str != nil:
			f.Kind, f.Size = String, c.opts.StringSize
		case v.t.kind == kPtr:
			f.Kind, f.Size = Pointer, 8
		default:
			f.Kind, f.Size, f.Signed = Int, v.t.size, v.t.signed
		}
		align := 1
		if f.Kind != String {
			align = f.Size
		}
		l.Size = (l.Size + align - 1) &^ (align - 1)
		f.Offset = l.Size
		l.Size += f.Size
		l.Fields = append(l.Fields, f)
	}
	l.Size = max(8, (l.Size+7)&^7)
	return l
}

// Value returns the field's value in record as an int64 (Signed), a
// uint64 (Int, Pointer) or a string.
func (f Field) Value(record []byte) any {
	if f.Offset+f.Size > len(record) {
		return nil
	}
	b := record[f.Offset : f.Offset+f.Size]
	if f.Kind == String {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b)
	}
	var u uint64
	switch f.Size {
	case 1:
		u = uint64(b[0])
	case 2:
		u = uint64(binary.NativeEndian.Uint16(b))
	case 4:
		u = uint64(binary.NativeEndian.Uint32(b))
	default:
		u = binary.NativeEndian.Uint64(b)
	}
	if f.Signed {
		shift := uint(64 - 8*f.Size)
		return int64(u<<shift) >> shift
	}
	return u
}

// Format returns the field's value in record as text: decimal integers,
// hex pointers, strings as they are.
func (f Field) Format(record []byte) string {
	switch v := f.Value(record).(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		if f.Kind == Pointer {
			return "0x" + strconv.FormatUint(v, 16)
		}
		return strconv.FormatUint(v, 10)
	}
	return "?"
}
