package histogram

import (
	"fmt"
	"math/bits"
)

// Log2Slots is the number of log2 slots needed to hold any uint64 value.
const Log2Slots = 65

// Log2Slot returns the log2 slot of v, as log2_slot does on the BPF side and
// bcc's bpf_log2l: floor(log2(v)) + 1, and 1 for 0, so that zeros show in the
// "0 -> 1" row.
func Log2Slot(v uint64) int {
	return max(bits.Len64(v), 1)
}

// log2Bounds returns the range bcc prints for slot (1 <= slot < Log2Slots).
func log2Bounds(slot int) (low, high uint64) {
	low = uint64(1) << (slot - 1)
	high = uint64(1)<<slot - 1 // wraps to MaxUint64 for slot 64
	if low == high {
		low = 0
	}
	return low, high
}

// Log2 accumulates a log2 histogram on the Go side.
type Log2 struct {
	// Buckets[k] is the count of slot k.
	Buckets []uint64
}

// AddSlot adds n to the count of slot, e.g. when copying raw slot counts
// out of a BPF map.
func (h *Log2) AddSlot(slot int, n uint64) error {
	if slot < 0 || slot >= Log2Slots {
		return errSlot(slot)
	}
	if slot >= len(h.Buckets) {
		h.Buckets = append(h.Buckets, make([]uint64, slot+1-len(h.Buckets))...)
	}
	h.Buckets[slot] += n
	return nil
}

// Observe counts one occurrence of v.
func (h *Log2) Observe(v uint64) {
	_ = h.AddSlot(Log2Slot(v), 1) // Log2Slot is always in range
}

func errSlot(slot int) error {
	return fmt.Errorf("log2 slot %d out of range [0, %d)", slot, Log2Slots)
}
