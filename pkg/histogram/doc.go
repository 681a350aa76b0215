// Package histogram renders histograms exactly as bcc's Python tools print
// them (print_log2_hist and print_linear_hist in bcc's table.py), so that
// output can be compared byte for byte with the bcc originals.
//
// # Log2 layout
//
// A log2 histogram is a slice of counts indexed by slot, filled on the BPF
// side with log2_slot (bpf/include/bits.bpf.h), which is bcc's bpf_log2l:
// slot 1 holds 0 and 1, slot k > 1 holds values in [2^(k-1), 2^k - 1], and
// slot 0 stays empty. [Log2Slot] is the Go equivalent. Like bcc, the text
// form starts at slot 1, printed as "0 -> 1"; a count in slot 0 is never
// printed, but still sets the bar scale.
// 65 slots ([Log2Slots]) cover every uint64. When the highest non-empty slot
// is above 32, the wide layout (20-digit ranges, 20-character bars) is used.
//
// # Linear layout
//
// A linear histogram is a slice of counts indexed by value; every index from
// 0 to the highest non-empty one is printed.
//
// # Sections
//
// bcc prints one histogram per secondary key, each preceded by an empty line
// and "<header> = <label>". [WriteLog2Sections] and [WriteLinearSections] do
// the same, in the order of the given slice. bcc uses the map's iteration
// order, or bucket_sort_fn; [SectionsByKey] builds the slice sorted by key.
//
// # JSON
//
// [Histogram] is the JSON form of one histogram. It lists the same rows, with
// the same ranges, as the text form (no leading rows are stripped):
//
//	{
//	  "unit": "usecs",             // column header (bcc's val_type)
//	  "section_header": "pid",     // optional, with sections only
//	  "section": "1234",           // optional, with sections only
//	  "buckets": [                 // never null
//	    {"low": 0, "high": 1, "count": 3},
//	    {"low": 2, "high": 3, "count": 10}
//	  ]
//	}
//
// For a log2 histogram low and high are the inclusive bounds of the slot as
// printed by bcc; for a linear histogram low == high == the index. All three
// numbers are unsigned 64-bit integers and may exceed 2^53.
package histogram
