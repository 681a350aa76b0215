package usdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// note builds one .note.stapsdt entry.
func note(order binary.ByteOrder, addrSize int, loc, base, sema uint64, provider, name, args string) []byte {
	var desc bytes.Buffer
	for _, a := range []uint64{loc, base, sema} {
		if addrSize == 8 {
			binary.Write(&desc, order, a)
		} else {
			binary.Write(&desc, order, uint32(a))
		}
	}
	desc.WriteString(provider + "\x00" + name + "\x00" + args + "\x00")
	var b bytes.Buffer
	binary.Write(&b, order, uint32(8))
	binary.Write(&b, order, uint32(desc.Len()))
	binary.Write(&b, order, uint32(ntStapsdt))
	b.WriteString("stapsdt\x00")
	b.Write(desc.Bytes())
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func TestParseNotes(t *testing.T) {
	le := binary.LittleEndian
	var sec []byte
	sec = append(sec, note(le, 8, 0x401715, 0x4b2a2c, 0, "sdttest", "args", "-4@-20(%rbp) -4@$5")...)
	// A note of another owner is skipped.
	other := note(le, 8, 1, 2, 3, "x", "y", "")
	copy(other[12:], "GNU\x00\x00\x00\x00\x00")
	sec = append(sec, other...)
	sec = append(sec, note(le, 8, 0x9b93, 0xbbb8c, 0xcfb18, "sdttest", "sema", "")...)
	sec = append(sec, 0, 0, 0, 0) // padding
	got, err := parseNotes(sec, le, 8)
	if err != nil {
		t.Fatal(err)
	}
	want := []Note{
		{Provider: "sdttest", Name: "args", Location: 0x401715, Base: 0x4b2a2c, Args: "-4@-20(%rbp) -4@$5"},
		{Provider: "sdttest", Name: "sema", Location: 0x9b93, Base: 0xbbb8c, Semaphore: 0xcfb18},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d notes %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("note %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// 32-bit, big-endian.
	be := binary.BigEndian
	got, err = parseNotes(note(be, 4, 0x1234, 0x5678, 0x9abc, "p", "n", "4@%eax"), be, 4)
	if err != nil || len(got) != 1 || got[0] != (Note{Provider: "p", Name: "n", Location: 0x1234, Base: 0x5678, Semaphore: 0x9abc, Args: "4@%eax"}) {
		t.Errorf("32-bit note: %+v, %v", got, err)
	}
}

func TestParseNotesErrors(t *testing.T) {
	le := binary.LittleEndian
	good := note(le, 8, 1, 2, 3, "p", "n", "8@%rax")
	huge := append([]byte(nil), good...)
	le.PutUint32(huge[4:], 0xffffffff) // descsz
	hugeName := append([]byte(nil), good...)
	le.PutUint32(hugeName, 0xfffffff0) // namesz
	noNUL := append([]byte(nil), good[:len(good)-4]...)
	noNUL = bytes.TrimRight(noNUL, "\x00")
	le.PutUint32(noNUL[4:], uint32(len(noNUL)-20))
	shortDesc := note(le, 8, 1, 2, 3, "p", "n", "")
	le.PutUint32(shortDesc[4:], 10)
	emptyName := note(le, 8, 1, 2, 3, "", "n", "")
	for name, sec := range map[string][]byte{
		"truncated header": good[:8],
		"truncated desc":   good[:len(good)-8],
		"huge desc":        huge,
		"huge name":        hugeName,
		"unterminated":     noNUL,
		"short desc":       shortDesc,
		"empty provider":   emptyName,
	} {
		if n, err := parseNotes(sec, le, 8); !errors.Is(err, ErrBadNote) {
			t.Errorf("%s: %+v, %v; want ErrBadNote", name, n, err)
		}
	}
}

func FuzzParseNotes(f *testing.F) {
	le := binary.LittleEndian
	f.Add(note(le, 8, 0x401715, 0x4b2a2c, 0, "sdttest", "args", "-4@-20(%rbp) -4@$5"), true)
	f.Add(append(note(le, 8, 1, 2, 3, "a", "b", ""), note(le, 8, 4, 5, 6, "c", "d", "8@%rax")...), true)
	f.Add(note(le, 4, 1, 2, 3, "a", "b", "4@%eax"), false)
	f.Fuzz(func(t *testing.T, data []byte, wide bool) {
		addrSize := 4
		if wide {
			addrSize = 8
		}
		notes, err := parseNotes(data, le, addrSize)
		if err != nil {
			if !errors.Is(err, ErrBadNote) {
				t.Fatalf("error %v does not wrap ErrBadNote", err)
			}
			return
		}
		// Each note takes at least 12 + 8 + 3*addrSize + 3 bytes.
		if len(notes)*(12+3*addrSize+3) > len(data) {
			t.Fatalf("%d notes from %d bytes", len(notes), len(data))
		}
		for _, n := range notes {
			if n.Provider == "" || n.Name == "" {
				t.Fatalf("note %+v without a name", n)
			}
			ParseArgs(n.Args)
		}
	})
}
