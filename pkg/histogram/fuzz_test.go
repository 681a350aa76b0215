package histogram

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var rowRE = regexp.MustCompile(`^ *(\d+) -> (\d+) +: (\d+) +\|([*+ ]*)\|$`)

// FuzzWriteLog2 checks that WriteLog2 never panics and that its output has
// the expected shape. The first byte of data selects one-byte (even) or
// eight-byte (odd) counts for the rest.
func FuzzWriteLog2(f *testing.F) {
	f.Add([]byte{0, 0, 3, 10, 0, 5}, false, uint64(0))
	f.Add([]byte{0, 0, 0, 0, 1, 0, 9}, true, uint64(0))
	f.Add([]byte{0, 9, 2}, false, uint64(1))
	f.Add(append([]byte{1}, bytes.Repeat([]byte{0xff}, 8*40)...), false, uint64(0))
	f.Add(append([]byte{1}, bytes.Repeat([]byte{0x80}, 8*66)...), true, uint64(1<<62))

	f.Fuzz(func(t *testing.T, data []byte, strip bool, scale uint64) {
		var buckets []uint64
		if len(data) > 0 && data[0]&1 == 1 {
			for b := data[1:]; len(b) >= 8; b = b[8:] {
				buckets = append(buckets, binary.LittleEndian.Uint64(b))
			}
		} else if len(data) > 0 {
			for _, c := range data[1:] {
				buckets = append(buckets, uint64(c))
			}
		}
		idxMax, valMax := scan(buckets)
		if scale > 0 {
			valMax = scale
		}
		opts := []Option{FixedScale(scale)}
		if strip {
			opts = append(opts, StripLeadingZero())
		}

		var out bytes.Buffer
		err := WriteLog2(&out, buckets, "usecs", opts...)
		if idxMax >= Log2Slots {
			if err == nil || out.Len() != 0 {
				t.Fatalf("slot %d: err %v, wrote %d bytes", idxMax, err, out.Len())
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if idxMax <= 0 {
			if out.Len() != 0 {
				t.Fatalf("wrote %q for no printable slot", out.String())
			}
			return
		}

		first := 1
		if strip {
			for buckets[first] == 0 {
				first++
			}
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if want := 1 + idxMax - first + 1; len(lines) != want {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), want, out.String())
		}
		width := 40
		if idxMax > 32 {
			width = 20
		}
		if !strings.HasSuffix(lines[0], " : count     distribution") {
			t.Fatalf("bad header %q", lines[0])
		}
		prevVal, prevStars := uint64(0), 0
		for i, line := range lines[1:] {
			slot := first + i
			m := rowRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("bad row %q", line)
			}
			low, high := log2Bounds(slot)
			if m[1] != strconv.FormatUint(low, 10) || m[2] != strconv.FormatUint(high, 10) ||
				m[3] != strconv.FormatUint(buckets[slot], 10) {
				t.Fatalf("slot %d: row %q", slot, line)
			}
			bar := m[4]
			if len(bar) != width {
				t.Fatalf("bar width %d, want %d: %q", len(bar), width, line)
			}
			drawn := strings.TrimRight(bar, " ")
			n := strings.Count(drawn, "*") + strings.Count(drawn, "+")
			if n != len(drawn) || n > width {
				t.Fatalf("bad bar %q", line)
			}
			if plus := strings.HasSuffix(drawn, "+"); plus != (buckets[slot] > valMax) || strings.Count(drawn, "+") > 1 {
				t.Fatalf("bad overflow mark in %q (max %d)", line, valMax)
			}
			// Bars grow with counts.
			val := buckets[slot]
			if (val > prevVal && n < prevStars) || (val < prevVal && n > prevStars) {
				t.Fatalf("bar of %d has %d stars, bar of %d has %d", val, n, prevVal, prevStars)
			}
			prevVal, prevStars = val, n
		}
	})
}
