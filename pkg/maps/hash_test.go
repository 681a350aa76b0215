package maps_test

import (
	"cmp"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

type key struct{ Tid, Reason uint32 }

func newMap(t testing.TB, typ ebpf.MapType, entries uint32) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: typ, KeySize: 8, ValueSize: 8, MaxEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func byKey(a, b maps.Entry[key, uint64]) int {
	return cmp.Or(cmp.Compare(a.Key.Tid, b.Key.Tid), cmp.Compare(a.Key.Reason, b.Key.Reason))
}

// TestReadHash fills a hash map and reads it back in batches and by
// iteration, then clears it.
func TestReadHash(t *testing.T) {
	kerneltest.Root(t)
	const n = 3000
	m := newMap(t, ebpf.Hash, 4096)
	for i := range uint32(n) {
		if err := m.Put(key{i, i % 7}, uint64(i)*3); err != nil {
			t.Fatal(err)
		}
	}
	for _, nobatch := range []bool{false, true} {
		got, err := maps.ReadHash[key, uint64](m, maps.Options{NoBatch: nobatch})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, byKey)
		if len(got) != n {
			t.Fatalf("nobatch=%v: %d entries, want %d", nobatch, len(got), n)
		}
		for i, e := range got {
			if e.Key != (key{uint32(i), uint32(i) % 7}) || e.Value != uint64(i)*3 {
				t.Fatalf("nobatch=%v: entry %d = %+v", nobatch, i, e)
			}
		}
	}
	got, err := maps.ReadHash[key, uint64](m, maps.Options{Clear: true})
	if err != nil || len(got) != n {
		t.Fatalf("clear: %d entries, %v", len(got), err)
	}
	if left, _ := maps.ReadHash[key, uint64](m, maps.Options{NoBatch: true}); len(left) != 0 {
		t.Errorf("%d entries left after Clear", len(left))
	}
}

// TestReadPerCPUHash checks that per-CPU values are summed.
func TestReadPerCPUHash(t *testing.T) {
	kerneltest.Root(t)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	m := newMap(t, ebpf.PerCPUHash, 1024)
	const n = 500
	for i := range uint32(n) {
		vals := make([]uint64, ncpu)
		for c := range vals {
			vals[c] = uint64(i) + uint64(c)*1000
		}
		if err := m.Put(key{i, 1}, vals); err != nil {
			t.Fatal(err)
		}
	}
	add := func(a, b uint64) uint64 { return a + b }
	for _, opts := range []maps.Options{{}, {NoBatch: true}, {Clear: true}} {
		got, err := maps.ReadPerCPUHash[key, uint64](m, add, opts)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, byKey)
		if len(got) != n {
			t.Fatalf("%+v: %d entries", opts, len(got))
		}
		for i, e := range got {
			want := uint64(i)*uint64(ncpu) + 1000*uint64(ncpu*(ncpu-1)/2)
			if e.Value != want {
				t.Fatalf("%+v: entry %d = %d, want %d", opts, i, e.Value, want)
			}
		}
	}
	if left, _ := maps.ReadPerCPUHash[key, uint64](m, add, maps.Options{}); len(left) != 0 {
		t.Errorf("%d entries left after Clear", len(left))
	}
	total, err := maps.SumPerCPU[key, uint64](m, key{1, 1})
	if err != nil || total != 0 {
		t.Errorf("SumPerCPU of a missing key = %d, %v", total, err)
	}
}

func TestTopN(t *testing.T) {
	es := []maps.Entry[string, int]{{"a", 1}, {"b", 5}, {"c", 3}, {"d", 5}}
	got := maps.TopN(es, 3, func(a, b maps.Entry[string, int]) int { return cmp.Compare(b.Value, a.Value) })
	want := []maps.Entry[string, int]{{"b", 5}, {"d", 5}, {"c", 3}}
	if !slices.Equal(got, want) {
		t.Errorf("TopN = %v, want %v", got, want)
	}
}

// BenchmarkReadPerCPUHash compares batch readout with iteration on 10,000
// keys.
func BenchmarkReadPerCPUHash(b *testing.B) {
	kerneltest.Root(b)
	ncpu, _ := ebpf.PossibleCPU()
	m := newMap(b, ebpf.PerCPUHash, 16384)
	for i := range uint32(10000) {
		m.Put(key{i, i % 64}, make([]uint64, ncpu))
	}
	add := func(a, b uint64) uint64 { return a + b }
	for _, nobatch := range []bool{false, true} {
		b.Run(map[bool]string{false: "batch", true: "iterate"}[nobatch], func(b *testing.B) {
			for b.Loop() {
				if _, err := maps.ReadPerCPUHash[key, uint64](m, add, maps.Options{NoBatch: nobatch}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
