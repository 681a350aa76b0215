package maps

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
)

// Entry is one key and value of a map.
type Entry[K, V any] struct {
	Key   K
	Value V
}

// batchSize is how many entries one batch syscall moves. Hash maps refuse a
// batch smaller than their largest bucket with ENOSPC; the readers then
// double it.
const batchSize = 1024

// Options control ReadHash and ReadPerCPUHash.
type Options struct {
	// Clear deletes what was read, atomically per batch where the kernel
	// has BPF_MAP_LOOKUP_AND_DELETE_BATCH.
	Clear bool
	// NoBatch forces element-by-element iteration (for tests and old
	// kernels).
	NoBatch bool
}

// ReadHash returns every entry of a hash map. It uses batch lookups where the
// kernel has them and iterates otherwise.
func ReadHash[K comparable, V any](m *ebpf.Map, opts Options) ([]Entry[K, V], error) {
	if !opts.NoBatch {
		entries, err := readBatch[K, V](m, 1, opts.Clear, func(vals []V, i int) V { return vals[i] })
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return entries, err
		}
	}
	return readIter(m, opts.Clear, func(it *ebpf.MapIterator, k *K) (V, bool) {
		var v V
		return v, it.Next(k, &v)
	})
}

// ReadPerCPUHash returns every entry of a per-CPU hash map with the values of
// all CPUs combined by add (for counters: a + b).
func ReadPerCPUHash[K comparable, V any](m *ebpf.Map, add func(a, b V) V, opts Options) ([]Entry[K, V], error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	sum := func(vals []V) V {
		var total V
		for i, v := range vals {
			if i == 0 {
				total = v
			} else {
				total = add(total, v)
			}
		}
		return total
	}
	if !opts.NoBatch {
		entries, err := readBatch[K, V](m, ncpu, opts.Clear, func(vals []V, i int) V {
			return sum(vals[i*ncpu : (i+1)*ncpu])
		})
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return entries, err
		}
	}
	return readIter(m, opts.Clear, func(it *ebpf.MapIterator, k *K) (V, bool) {
		var vals []V
		if !it.Next(k, &vals) {
			var zero V
			return zero, false
		}
		return sum(vals), true
	})
}

func readBatch[K comparable, V any](m *ebpf.Map, perKey int, clear bool, value func([]V, int) V) ([]Entry[K, V], error) {
	var (
		entries []Entry[K, V]
		cursor  ebpf.MapBatchCursor
		size    = min(batchSize, max(int(m.MaxEntries()), 1))
	)
	keys := make([]K, size)
	vals := make([]V, size*perKey)
	for {
		var (
			n   int
			err error
		)
		if clear {
			n, err = m.BatchLookupAndDelete(&cursor, keys, vals, nil)
		} else {
			n, err = m.BatchLookup(&cursor, keys, vals, nil)
		}
		for i := range n {
			entries = append(entries, Entry[K, V]{keys[i], value(vals, i)})
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return entries, nil
		case err != nil && n == 0 && len(entries) == 0 && isNoSpace(err) && size < int(m.MaxEntries())*2:
			// A bucket holds more than size entries: retry bigger.
			size *= 2
			keys = make([]K, size)
			vals = make([]V, size*perKey)
			cursor = ebpf.MapBatchCursor{}
		case err != nil:
			return entries, fmt.Errorf("batch lookup %s: %w", m, err)
		}
	}
}

func readIter[K comparable, V any](m *ebpf.Map, clear bool, next func(*ebpf.MapIterator, *K) (V, bool)) ([]Entry[K, V], error) {
	var entries []Entry[K, V]
	var k K
	it := m.Iterate()
	for {
		v, ok := next(it, &k)
		if !ok {
			break
		}
		entries = append(entries, Entry[K, V]{k, v})
	}
	if err := it.Err(); err != nil {
		return entries, fmt.Errorf("iterate %s: %w", m, err)
	}
	if clear {
		for _, e := range entries {
			if err := m.Delete(e.Key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return entries, fmt.Errorf("delete from %s: %w", m, err)
			}
		}
	}
	return entries, nil
}

// SumPerCPU returns the sum over all CPUs of key's value in a per-CPU map; a
// missing key sums to zero.
func SumPerCPU[K any, V cmp.Ordered](m *ebpf.Map, key K) (V, error) {
	var vals []V
	var total V
	if err := m.Lookup(key, &vals); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return total, nil
		}
		return total, fmt.Errorf("lookup %s: %w", m, err)
	}
	for _, v := range vals {
		total += v
	}
	return total, nil
}

// TopN sorts entries by cmp (as slices.SortFunc) and keeps the first n; n <= 0
// keeps all. Ties keep a stable order.
func TopN[K, V any](entries []Entry[K, V], n int, cmp func(a, b Entry[K, V]) int) []Entry[K, V] {
	slices.SortStableFunc(entries, cmp)
	if n > 0 && len(entries) > n {
		entries = entries[:n]
	}
	return entries
}
