package histogram_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/bpf/bitstest"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// bpfBits runs bpf/include/bits.bpf.h's functions in the kernel.
type bpfBits struct {
	objs bitstest.BitsObjects
}

func loadBits(t testing.TB) *bpfBits {
	t.Helper()
	kerneltest.Need(t, loader.RawTP)
	var b bpfBits
	if err := bitstest.LoadBitsObjects(&b.objs, nil); err != nil {
		t.Fatalf("load bitstest: %v", err)
	}
	t.Cleanup(func() { b.objs.Close() })
	return &b
}

// run returns log2_slot(v), ns_to_us(v) and ns_to_ms(v) as the kernel
// computed them.
func (b *bpfBits) run(t testing.TB, v uint64) (slot, us, ms uint64) {
	t.Helper()
	if _, err := b.objs.Bits.Run(&ebpf.RunOptions{Context: []uint64{v}}); err != nil {
		t.Fatalf("run bits(%d): %v", v, err)
	}
	for _, o := range []struct {
		v   *ebpf.Variable
		out *uint64
	}{{b.objs.OutSlot, &slot}, {b.objs.OutUs, &us}, {b.objs.OutMs, &ms}} {
		if err := o.v.Get(o.out); err != nil {
			t.Fatalf("read result: %v", err)
		}
	}
	return slot, us, ms
}

func (b *bpfBits) check(t testing.TB, v uint64) {
	t.Helper()
	slot, us, ms := b.run(t, v)
	if want := uint64(histogram.Log2Slot(v)); slot != want {
		t.Errorf("log2_slot(%d) = %d, want %d", v, slot, want)
	}
	if us != v/1000 {
		t.Errorf("ns_to_us(%d) = %d, want %d", v, us, v/1000)
	}
	if ms != v/1000000 {
		t.Errorf("ns_to_ms(%d) = %d, want %d", v, ms, v/1000000)
	}
}

// TestBPFBits checks the BPF side's log2 slots and unit divisions, as the
// kernel runs them, against Go's: every power of two and its neighbours,
// the multiples of 1000 and 10^6 around the 2^32 switch from
// multiply-and-shift to division, and a log-uniform sample.
func TestBPFBits(t *testing.T) {
	b := loadBits(t)
	vals := []uint64{0, 1, 2, 3, 999, 1000, 1001, 999999, 1000000, 1000001, math.MaxUint32, math.MaxUint64, math.MaxInt64}
	for k := range 64 {
		p := uint64(1) << k
		vals = append(vals, p-1, p, p+1)
	}
	for _, d := range []uint64{1000, 1000000} {
		top := math.MaxUint32 / d * d
		for m := top - 3*d; m <= top+3*d; m += d {
			vals = append(vals, m-1, m, m+1)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		vals = append(vals, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range vals {
		b.check(t, v)
	}
}

// TestDivisionConstants proves, for every 32-bit value, the
// multiply-and-shift that ns_to_us and ns_to_ms use below 2^32.
func TestDivisionConstants(t *testing.T) {
	if testing.Short() {
		t.Skip("4 billion values")
	}
	for n := uint64(0); n <= math.MaxUint32; n++ {
		if n*274877907>>38 != n/1000 || n*1125899907>>50 != n/1000000 {
			t.Fatalf("multiply-and-shift wrong at %d", n)
		}
	}
}

func FuzzBPFBits(f *testing.F) {
	for _, v := range []uint64{0, 1, 1000, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		f.Add(v)
	}
	b := loadBits(f)
	f.Fuzz(func(t *testing.T, v uint64) {
		b.check(t, v)
	})
}
