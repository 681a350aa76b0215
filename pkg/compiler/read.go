package compiler

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/maps"
)

// CountEntry is one key of a Count map with its count summed over CPUs.
type CountEntry struct {
	Key   []byte
	Count uint64
}

// ReadCounts reads a Count probe's map, summed over CPUs (in batches where
// the kernel has them, 5.6+). With clear it deletes what it read,
// atomically per batch where batches work.
func ReadCounts(m *ebpf.Map, clear bool) ([]CountEntry, error) {
	return readCounts(m, maps.Options{Clear: clear})
}

func readCounts(m *ebpf.Map, opts maps.Options) ([]CountEntry, error) {
	entries, err := maps.ReadPerCPUHashBytes(m, func(a, b uint64) uint64 { return a + b }, opts)
	counts := make([]CountEntry, len(entries))
	for i, e := range entries {
		counts[i] = CountEntry{Key: []byte(e.Key), Count: e.Value}
	}
	return counts, err
}

// ReadLog2 reads a Log2 probe's map: the count of each slot since load,
// summed over CPUs, in pkg/histogram's layout. Per-interval figures are the
// difference of two reads (nothing is lost between them, unlike clearing).
func ReadLog2(m *ebpf.Map) ([]uint64, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	buckets := make([]uint64, Log2Slots)
	keys := make([]uint32, Log2Slots)
	vals := make([]uint64, Log2Slots*ncpu)
	var cursor ebpf.MapBatchCursor
	n, err := m.BatchLookup(&cursor, keys, vals, nil)
	if err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
		for i := range n {
			if int(keys[i]) < Log2Slots {
				for _, v := range vals[i*ncpu : (i+1)*ncpu] {
					buckets[keys[i]] += v
				}
			}
		}
		return buckets, nil
	}
	if !errors.Is(err, ebpf.ErrNotSupported) {
		return nil, fmt.Errorf("read %s: %w", m, err)
	}
	var per []uint64
	for slot := range uint32(Log2Slots) {
		if err := m.Lookup(slot, &per); err != nil {
			return nil, fmt.Errorf("read %s: %w", m, err)
		}
		for _, v := range per {
			buckets[slot] += v
		}
	}
	return buckets, nil
}
