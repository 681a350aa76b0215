package maps

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/cilium/ebpf"
)

// ReadPerCPUHashBytes is ReadPerCPUHash for maps whose key size is known
// only at run time, such as those of programs pkg/compiler generates: each
// key is returned as a string of the map's key size. Values of all CPUs are
// combined by add.
func ReadPerCPUHashBytes[V any](m *ebpf.Map, add func(a, b V) V, opts Options) ([]Entry[string, V], error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("possible cpus: %w", err)
	}
	sum := func(vals []V) V {
		total := vals[0]
		for _, v := range vals[1:] {
			total = add(total, v)
		}
		return total
	}
	if !opts.NoBatch {
		entries, err := readBytesBatch(m, ncpu, opts.Clear, sum)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return entries, err
		}
	}
	var entries []Entry[string, V]
	var key []byte
	var vals []V
	it := m.Iterate()
	for it.Next(&key, &vals) {
		entries = append(entries, Entry[string, V]{string(key), sum(vals)})
	}
	if err := it.Err(); err != nil {
		return entries, fmt.Errorf("iterate %s: %w", m, err)
	}
	if opts.Clear {
		for _, e := range entries {
			if err := m.Delete([]byte(e.Key)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return entries, fmt.Errorf("delete from %s: %w", m, err)
			}
		}
	}
	return entries, nil
}

// readBytesBatch reads in batches, the keys into a slice of [KeySize]byte
// arrays made at run time.
func readBytesBatch[V any](m *ebpf.Map, ncpu int, clear bool, sum func([]V) V) ([]Entry[string, V], error) {
	keyType := reflect.ArrayOf(int(m.KeySize()), reflect.TypeFor[byte]())
	size := min(batchSize, max(int(m.MaxEntries()), 1))
	keys := reflect.MakeSlice(reflect.SliceOf(keyType), size, size)
	vals := make([]V, size*ncpu)
	var (
		entries []Entry[string, V]
		cursor  ebpf.MapBatchCursor
		key     = make([]byte, m.KeySize())
	)
	for {
		var (
			n   int
			err error
		)
		if clear {
			n, err = m.BatchLookupAndDelete(&cursor, keys.Interface(), vals, nil)
		} else {
			n, err = m.BatchLookup(&cursor, keys.Interface(), vals, nil)
		}
		for i := range n {
			reflect.Copy(reflect.ValueOf(key), keys.Index(i))
			entries = append(entries, Entry[string, V]{string(key), sum(vals[i*ncpu : (i+1)*ncpu])})
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return entries, nil
		case err != nil && n == 0 && len(entries) == 0 && isNoSpace(err) && size < int(m.MaxEntries())*2:
			// A bucket holds more than size entries: retry bigger.
			size *= 2
			keys = reflect.MakeSlice(reflect.SliceOf(keyType), size, size)
			vals = make([]V, size*ncpu)
			cursor = ebpf.MapBatchCursor{}
		case err != nil:
			return entries, fmt.Errorf("batch lookup %s: %w", m, err)
		}
	}
}
