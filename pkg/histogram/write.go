package histogram

import (
	"fmt"
	"io"
)

// Option changes how a histogram is rendered.
type Option func(*options)

type options struct {
	strip bool
	max   uint64
}

// StripLeadingZero omits the empty rows before the first non-empty one, as
// bcc's strip_leading_zero. The column header is still printed.
func StripLeadingZero() Option {
	return func(o *options) { o.strip = true }
}

// FixedScale draws bars relative to max instead of the largest count, e.g. to
// keep one scale across intervals; bars of counts above max are full and end
// in '+', as drawn by bcc's _stars. Zero keeps bcc's default, the largest
// count, with which no bar overflows.
func FixedScale(max uint64) Option {
	return func(o *options) { o.max = max }
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

const starsMax = 40

// WriteLog2 writes buckets, indexed by log2 slot (see [Log2Slot]), in the
// format of bcc's print_log2_hist. valType is the column header, e.g.
// "usecs". Nothing is written if no slot above 0 has a count.
func WriteLog2(w io.Writer, buckets []uint64, valType string, opts ...Option) error {
	b, err := appendLog2(nil, buckets, valType, newOptions(opts))
	if err != nil {
		return err
	}
	return write(w, b)
}

// WriteLinear writes buckets, indexed by value, in the format of bcc's
// print_linear_hist. Nothing is written if all counts are zero.
func WriteLinear(w io.Writer, buckets []uint64, valType string, opts ...Option) error {
	return write(w, appendLinear(nil, buckets, valType, newOptions(opts)))
}

func write(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write histogram: %w", err)
	}
	return nil
}

// scan returns the index of the last non-zero count (-1 if none) and the
// largest count.
func scan(buckets []uint64) (idxMax int, valMax uint64) {
	idxMax = -1
	for i, v := range buckets {
		if v > 0 {
			idxMax = i
		}
		valMax = max(valMax, v)
	}
	return idxMax, valMax
}

func appendLog2(b []byte, buckets []uint64, valType string, o options) ([]byte, error) {
	idxMax, valMax := scan(buckets)
	if idxMax >= Log2Slots {
		return nil, errSlot(idxMax)
	}
	if o.max > 0 {
		valMax = o.max
	}

	header := "     %-19s : count     distribution\n"
	body := "%10d -> %-10d : %-8d |%-*s|\n"
	width := starsMax
	if idxMax > 32 {
		header = "               %-29s : count     distribution\n"
		body = "%20d -> %-20d : %-8d |%-*s|\n"
		width = starsMax / 2
	}

	if idxMax > 0 {
		b = fmt.Appendf(b, header, valType)
	}
	strip := o.strip
	for i := 1; i <= idxMax; i++ {
		val := buckets[i]
		if strip && val == 0 {
			continue
		}
		strip = false
		low, high := log2Bounds(i)
		b = fmt.Appendf(b, body, low, high, val, width, bar(val, valMax, width))
	}
	return b, nil
}

func appendLinear(b []byte, buckets []uint64, valType string, o options) []byte {
	idxMax, valMax := scan(buckets)
	if o.max > 0 {
		valMax = o.max
	}

	if idxMax >= 0 {
		b = fmt.Appendf(b, "     %-13s : count     distribution\n", valType)
	}
	strip := o.strip
	for i := 0; i <= idxMax; i++ {
		val := buckets[i]
		if strip && val == 0 {
			continue
		}
		strip = false
		b = fmt.Appendf(b, "        %-10d : %-8d |%-*s|\n", i, val, starsMax, bar(val, valMax, starsMax))
	}
	return b
}
