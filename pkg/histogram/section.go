package histogram

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
)

// Section is one histogram of a keyed set, as printed by bcc for maps with
// a secondary key (per process, per disk, ...).
type Section struct {
	// Label is printed verbatim after "<header> = ", like the result of
	// bcc's section_print_fn. To match bcc's default %r of a string key,
	// quote it: "'bash'".
	Label   string
	Buckets []uint64
}

// SectionsByKey returns one section per key of m, sorted by key. label
// formats a key; nil means fmt.Sprint, which matches bcc's default for
// integer keys. Reorder the result to emulate bcc's bucket_sort_fn.
func SectionsByKey[K cmp.Ordered](m map[K][]uint64, label func(K) string) []Section {
	if label == nil {
		label = func(k K) string { return fmt.Sprint(k) }
	}
	sections := make([]Section, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		sections = append(sections, Section{Label: label(k), Buckets: m[k]})
	}
	return sections
}

// WriteLog2Sections writes each section, in order, as an empty line,
// "<header> = <label>" and the log2 histogram of its buckets (see
// [WriteLog2]). Nothing is written if a section has a slot out of range.
func WriteLog2Sections(w io.Writer, header string, sections []Section, valType string, opts ...Option) error {
	o := newOptions(opts)
	var b []byte
	for _, s := range sections {
		var err error
		b = fmt.Appendf(b, "\n%s = %s\n", header, s.Label)
		if b, err = appendLog2(b, s.Buckets, valType, o); err != nil {
			return fmt.Errorf("section %s: %w", s.Label, err)
		}
	}
	return write(w, b)
}

// WriteLinearSections is like [WriteLog2Sections] for linear histograms
// (see [WriteLinear]).
func WriteLinearSections(w io.Writer, header string, sections []Section, valType string, opts ...Option) error {
	o := newOptions(opts)
	var b []byte
	for _, s := range sections {
		b = fmt.Appendf(b, "\n%s = %s\n", header, s.Label)
		b = appendLinear(b, s.Buckets, valType, o)
	}
	return write(w, b)
}
