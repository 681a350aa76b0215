package compiler

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// TestReadCounts checks the batch reader against iteration, and clearing.
func TestReadCounts(t *testing.T) {
	kerneltest.Root(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: 24, ValueSize: 8, MaxEntries: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		key := make([]byte, 24)
		binary.NativeEndian.PutUint64(key[8:], uint64(i))
		vals := make([]uint64, ncpu)
		for c := range vals {
			vals[c] = uint64(i + c)
		}
		if err := m.Put(key, vals); err != nil {
			t.Fatal(err)
		}
	}
	want := func(k []byte) uint64 {
		i := binary.NativeEndian.Uint64(k[8:])
		return uint64(ncpu)*i + uint64(ncpu*(ncpu-1)/2)
	}
	batch, err := readCounts(m, maps.Options{})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	iter, err := readCounts(m, maps.Options{NoBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != n || len(iter) != n {
		t.Fatalf("batch read %d keys, iteration %d, want %d", len(batch), len(iter), n)
	}
	for _, e := range batch {
		if e.Count != want(e.Key) {
			t.Fatalf("key %x: %d, want %d", e.Key, e.Count, want(e.Key))
		}
	}
	cleared, err := ReadCounts(m, true)
	if err != nil || len(cleared) != n {
		t.Fatalf("ReadCounts(clear) = %d entries, %v", len(cleared), err)
	}
	if left, err := ReadCounts(m, false); err != nil || len(left) != 0 {
		t.Errorf("after clearing: %d entries, %v", len(left), err)
	}
}
