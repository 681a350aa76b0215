package histogram

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestLog2Slot(t *testing.T) {
	for _, tt := range []struct {
		v    uint64
		slot int
	}{
		{0, 1}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4},
		{1<<32 - 1, 32}, {1 << 32, 33}, {1<<63 - 1, 63}, {1 << 63, 64}, {math.MaxUint64, 64},
	} {
		if got := Log2Slot(tt.v); got != tt.slot {
			t.Errorf("Log2Slot(%d) = %d, want %d", tt.v, got, tt.slot)
		}
	}
	// Every value lies in the range printed for its slot.
	for _, v := range []uint64{0, 1, 2, 3, 5, 1000, 1 << 40, math.MaxUint64} {
		low, high := log2Bounds(Log2Slot(v))
		if v < low || v > high {
			t.Errorf("%d outside [%d, %d] of slot %d", v, low, high, Log2Slot(v))
		}
	}
}

func TestLog2Observe(t *testing.T) {
	var h Log2
	for _, v := range []uint64{0, 1, 1, 5, math.MaxUint64} {
		h.Observe(v)
	}
	if err := h.AddSlot(3, 10); err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, Log2Slots)
	want[1], want[3], want[64] = 3, 11, 1
	if !slices.Equal(h.Buckets, want) {
		t.Errorf("Buckets = %v, want %v", h.Buckets, want)
	}
	for _, slot := range []int{-1, Log2Slots} {
		if err := h.AddSlot(slot, 1); err == nil {
			t.Errorf("AddSlot(%d) succeeded", slot)
		}
	}
}

func json64(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestWriteLog2(t *testing.T) {
	const hdr = "     usecs               : count     distribution\n"
	const wideHdr = "               usecs                         : count     distribution\n"
	full := strings.Repeat("*", 40)
	for _, tt := range []struct {
		name    string
		buckets []uint64
		opts    []Option
		want    string
	}{
		{"nil", nil, nil, ""},
		{"all zero", make([]uint64, Log2Slots), nil, ""},
		{"slot 0 only", []uint64{5}, nil, ""},
		{"single bucket", []uint64{0, 0, 0, 9}, nil, hdr +
			"         0 -> 1          : 0        |                                        |\n" +
			"         2 -> 3          : 0        |                                        |\n" +
			"         4 -> 7          : 9        |" + full + "|\n"},
		{"strip leading zero", []uint64{0, 0, 0, 9, 0, 1}, []Option{StripLeadingZero()}, hdr +
			"         4 -> 7          : 9        |" + full + "|\n" +
			"         8 -> 15         : 0        |                                        |\n" +
			"        16 -> 31         : 1        |****                                    |\n"},
		{"slot 0 sets scale", []uint64{4, 1}, nil, hdr +
			"         0 -> 1          : 1        |**********                              |\n"},
		{"trailing zeros beyond 65 slots", append([]uint64{0, 1}, make([]uint64, 100)...), nil, hdr +
			"         0 -> 1          : 1        |" + full + "|\n"},
		{"fixed scale overflow", []uint64{0, 3, 1}, []Option{FixedScale(2)}, hdr +
			"         0 -> 1          : 3        |" + full[1:] + "+|\n" +
			"         2 -> 3          : 1        |********************                    |\n"},
		{"2^63", []uint64{64: 1 << 63}, []Option{StripLeadingZero()}, wideHdr +
			" 9223372036854775808 -> 18446744073709551615 : 9223372036854775808 |********************|\n"},
		{"max uint64 counts", []uint64{0, math.MaxUint64, math.MaxUint64 - 1}, nil, hdr +
			"         0 -> 1          : 18446744073709551615 |" + full + "|\n" +
			// bcc's float division rounds 40*(2^64-2)/(2^64-1) up to 40.
			"         2 -> 3          : 18446744073709551614 |" + full + "|\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteLog2(&b, tt.buckets, "usecs", tt.opts...); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestWriteLinear(t *testing.T) {
	const hdr = "     runqlen       : count     distribution\n"
	for _, tt := range []struct {
		name    string
		buckets []uint64
		opts    []Option
		want    string
	}{
		{"nil", nil, nil, ""},
		{"all zero", []uint64{0, 0}, nil, ""},
		{"index 0 only", []uint64{3}, nil, hdr +
			"        0          : 3        |****************************************|\n"},
		{"strip leading zero", []uint64{0, 0, 2, 0, 1}, []Option{StripLeadingZero()}, hdr +
			"        2          : 2        |****************************************|\n" +
			"        3          : 0        |                                        |\n" +
			"        4          : 1        |********************                    |\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteLinear(&b, tt.buckets, "runqlen", tt.opts...); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestSlotOutOfRange(t *testing.T) {
	buckets := make([]uint64, Log2Slots+1)
	buckets[1], buckets[Log2Slots] = 1, 1
	var b bytes.Buffer
	if err := WriteLog2(&b, buckets, "usecs"); err == nil {
		t.Error("WriteLog2 succeeded")
	}
	sections := []Section{{Label: "ok", Buckets: []uint64{0, 1}}, {Label: "bad", Buckets: buckets}}
	if err := WriteLog2Sections(&b, "pid", sections, "usecs"); err == nil {
		t.Error("WriteLog2Sections succeeded")
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q on error", b.String())
	}
	if _, err := Log2Histogram(buckets, "usecs"); err == nil {
		t.Error("Log2Histogram succeeded")
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteError(t *testing.T) {
	want := errors.New("disk full")
	err := WriteLog2(errWriter{want}, []uint64{0, 1}, "usecs")
	if !errors.Is(err, want) {
		t.Errorf("got %v, want wrapped %v", err, want)
	}
}

func TestSectionsByKey(t *testing.T) {
	m := map[uint32][]uint64{10: {0, 1}, 9: {0, 2}, 100: nil}
	var b bytes.Buffer
	if err := WriteLog2Sections(&b, "pid", SectionsByKey(m, nil), "usecs"); err != nil {
		t.Fatal(err)
	}
	want := "\npid = 9\n" +
		"     usecs               : count     distribution\n" +
		"         0 -> 1          : 2        |****************************************|\n" +
		"\npid = 10\n" +
		"     usecs               : count     distribution\n" +
		"         0 -> 1          : 1        |****************************************|\n" +
		"\npid = 100\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}

	s := SectionsByKey(map[string][]uint64{"sshd": nil, "bash": nil}, func(k string) string { return "'" + k + "'" })
	if len(s) != 2 || s[0].Label != "'bash'" || s[1].Label != "'sshd'" {
		t.Errorf("got %+v", s)
	}
}

func TestJSON(t *testing.T) {
	h, err := Log2Histogram([]uint64{7, 3, 0, 5}, "usecs")
	if err != nil {
		t.Fatal(err)
	}
	h.SectionHeader, h.Section = "pid", "1234"
	want := `{"unit":"usecs","section_header":"pid","section":"1234","buckets":[` +
		`{"low":0,"high":1,"count":3},{"low":2,"high":3,"count":0},{"low":4,"high":7,"count":5}]}`
	if got := string(json64(h)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	h, err = Log2Histogram([]uint64{64: math.MaxUint64}, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Buckets[63]; got != (Bucket{1 << 63, math.MaxUint64, math.MaxUint64}) {
		t.Errorf("slot 64 = %+v", got)
	}

	h, _ = Log2Histogram(nil, "usecs")
	if got, want := string(json64(h)), `{"unit":"usecs","buckets":[]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	lin := LinearHistogram([]uint64{1, 0, 2, 0}, "runqlen")
	want = `{"unit":"runqlen","buckets":[{"low":0,"high":0,"count":1},{"low":1,"high":1,"count":0},{"low":2,"high":2,"count":2}]}`
	if got := string(json64(lin)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
