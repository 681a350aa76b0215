package loader_test

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/bpf/loadertest"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
	"golang.org/x/sys/unix"
)

var (
	good     = loader.Backend{Name: "good", Spec: loadertest.LoadGood}
	missing  = loader.Backend{Name: "missing", Needs: []loader.Feature{loader.Kprobes}, Spec: loadertest.LoadMissing}
	rejected = loader.Backend{Name: "rejected", Spec: loadertest.LoadRejected}
)

var pid = os.Getpid()

// call makes the syscall the good object counts.
func call() { syscall.Getpgid(0x7ffffff0) }

func self() map[string]any { return map[string]any{"targ_tgid": uint32(pid)} }

func TestFeatures(t *testing.T) {
	kerneltest.Root(t)
	t.Logf("features:\n%s", loader.FeatureReport())
	// Things every kernel we support has.
	kerneltest.Need(t, loader.RawTP, loader.RingBuf)
	_, kprobePMU := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	_, kprobeEvents := os.Stat("/sys/kernel/tracing/kprobe_events")
	if (kprobePMU == nil || kprobeEvents == nil) != (loader.Have(loader.Kprobes) == nil) {
		t.Errorf("kprobes probe says %v, but kprobe PMU %v and kprobe_events %v", loader.Have(loader.Kprobes), kprobePMU, kprobeEvents)
	}
	if err := loader.Have("bogus"); !errors.Is(err, loader.ErrUnknownFeature) {
		t.Errorf("Have(bogus) = %v", err)
	}
}

// TestOpen loads, sets a constant, attaches, counts exact events and
// releases everything at Close.
func TestOpen(t *testing.T) {
	for _, perf := range []bool{false, true} {
		name := map[bool]string{false: "ringbuf", true: "perfbuf"}[perf]
		t.Run(name, func(t *testing.T) {
			kerneltest.Need(t, loader.RingBuf)
			obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{good}}, loader.Options{Constants: self(), PerfBuffer: perf})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			if obj.Backend != "good" || obj.RingBuf == perf {
				t.Errorf("backend %q ringbuf %v", obj.Backend, obj.RingBuf)
			}
			events, err := obj.OpenEvents(0)
			if err != nil {
				t.Fatal(err)
			}
			before, err := kerneltest.HeldBy(pid)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100
			for range n {
				call()
			}
			var calls uint64
			if err := obj.Map("calls").Lookup(uint32(0), &calls); err != nil || calls != n {
				t.Fatalf("calls = %d, %v; want %d", calls, err, n)
			}
			// Per-CPU perf buffers do not keep order across CPUs.
			seen := readN(t, events, n)
			slices.Sort(seen)
			for i, seq := range seen {
				if seq != uint32(i) {
					t.Fatalf("events %v: want 0..%d once each", seen, n-1)
				}
			}
			if err := obj.Close(); err != nil {
				t.Fatal(err)
			}
			if err := obj.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			kerneltest.AssertReleased(t, before)
			var ev maps.Event
			if err := events.Read(&ev); !errors.Is(err, maps.ErrClosed) {
				t.Errorf("Read after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// readN reads n samples of the good object and returns their seq numbers.
func readN(t *testing.T, s *maps.EventStream, n int) []uint32 {
	t.Helper()
	var seqs []uint32
	var ev maps.Event
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.Close()
		}
	}()
	defer close(done)
	for len(seqs) < n {
		if err := s.Read(&ev); err != nil {
			t.Fatalf("after %d events: %v", len(seqs), err)
		}
		if ev.Lost > 0 {
			t.Fatalf("lost %d events", ev.Lost)
		}
		if binary.NativeEndian.Uint32(ev.Data) != uint32(pid) {
			t.Fatalf("event of pid %d", binary.NativeEndian.Uint32(ev.Data))
		}
		seqs = append(seqs, binary.NativeEndian.Uint32(ev.Data[4:]))
	}
	return seqs
}

// TestLostEvents overflows the ring buffer and the perf buffer and checks
// that events read plus events reported lost add up exactly.
func TestLostEvents(t *testing.T) {
	const n = 5000
	for _, perf := range []bool{false, true} {
		name := map[bool]string{false: "ringbuf", true: "perfbuf"}[perf]
		t.Run(name, func(t *testing.T) {
			kerneltest.Need(t, loader.RingBuf)
			obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{good}}, loader.Options{
				Constants: self(), PerfBuffer: perf, RingBufferSize: uint32(os.Getpagesize()),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			events, err := obj.OpenEvents(os.Getpagesize())
			if err != nil {
				t.Fatal(err)
			}
			// Keep every event on one CPU: perf reports a loss in
			// the buffer it happened in, with the next sample
			// written there after the reader made room.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(0)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Fatal(err)
			}
			for range n {
				call()
			}
			var got, lost uint64
			var ev maps.Event
			drain := func(want uint64) {
				for got+lost < want {
					timer := time.AfterFunc(2*time.Second, func() { events.Close() })
					err := events.Read(&ev)
					timer.Stop()
					if err != nil {
						return
					}
					if ev.Lost > 0 {
						lost += ev.Lost
					} else {
						got++
					}
				}
			}
			if perf {
				done := make(chan struct{})
				go func() { drain(n + 1); close(done) }()
				time.Sleep(300 * time.Millisecond)
				call()
				<-done
				if got+lost != n+1 {
					t.Errorf("read %d + lost %d != %d", got, lost, n+1)
				}
			} else {
				drain(n)
				if l := events.Lost(); got+l != n {
					t.Errorf("read %d + lost %d != %d", got, l, n)
				}
				lost = events.Lost()
			}
			if lost == 0 {
				t.Errorf("no loss reported for %d events through a one-page buffer", n)
			}
			t.Logf("%d read, %d lost", got, lost)
		})
	}
}

func TestFallback(t *testing.T) {
	kerneltest.Root(t)
	obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{missing, good}}, loader.Options{Constants: self()})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Backend != "good" || len(obj.Attempts) != 1 || obj.Attempts[0].Backend != "missing" {
		t.Fatalf("backend %q, attempts %v", obj.Backend, obj.Attempts)
	}
	// Without kprobes the backend is passed over for the feature; with
	// them, for the symbol. The two are never confused.
	want := loader.ErrSymbolNotFound
	if loader.Have(loader.Kprobes) != nil {
		want = loader.ErrNotSupported
	}
	if err := obj.Attempts[0].Err; !errors.Is(err, want) {
		t.Errorf("missing backend passed over for %v, want %v", err, want)
	}
}

// TestPartialAttach checks that a backend whose second program fails to
// attach leaves nothing behind: Open undoes the first.
func TestPartialAttach(t *testing.T) {
	kerneltest.Root(t)
	before, err := kerneltest.HeldBy(pid)
	if err != nil {
		t.Fatal(err)
	}
	partial := loader.Backend{Name: "partial", Spec: loadertest.LoadMissing} // no Needs: attach is tried
	if _, err := loader.Open(loader.Plan{Backends: []loader.Backend{partial}}, loader.Options{Backend: "partial"}); err == nil {
		t.Fatal("Open succeeded with a kprobe on a missing symbol")
	}
	after, err := kerneltest.HeldBy(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Programs) != len(before.Programs) || len(after.Links) != len(before.Links) || after.Perf != before.Perf {
		t.Errorf("after a failed Open the process holds %+v, before %+v", after, before)
	}
}

func TestForcedBackend(t *testing.T) {
	kerneltest.Root(t)
	plan := loader.Plan{Backends: []loader.Backend{missing, good}}
	_, err := loader.Open(plan, loader.Options{Backend: "missing"})
	if loader.Have(loader.Kprobes) != nil {
		if !errors.Is(err, loader.ErrNotSupported) || errors.Is(err, loader.ErrSymbolNotFound) {
			t.Errorf("forced kprobe backend without kprobes: %v", err)
		}
	} else if !errors.Is(err, loader.ErrSymbolNotFound) || errors.Is(err, loader.ErrNotSupported) {
		t.Errorf("forced kprobe on a missing symbol: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if _, err := loader.Open(plan, loader.Options{Backend: "nope"}); !errors.Is(err, loader.ErrUnknownBackend) {
		t.Errorf("unknown backend: %v", err)
	}
	obj, err := loader.Open(plan, loader.Options{Backend: "good", Constants: self()})
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if _, err := loader.Open(plan, loader.Options{Backend: "good", Constants: map[string]any{"nope": 1}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown constant: %v", err)
	}
}

func TestVerifierError(t *testing.T) {
	kerneltest.Root(t)
	_, err := loader.Open(loader.Plan{Backends: []loader.Backend{rejected}}, loader.Options{Backend: "rejected"})
	var ve *loader.VerifierError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a VerifierError", err)
	}
	if ve.Program != "rejected" || len(ve.Log) == 0 || len(ve.Log) > 8 {
		t.Errorf("program %q, %d log lines", ve.Program, len(ve.Log))
	}
	// The wording changes between kernels ("invalid mem access
	// 'map_value_or_null'", "... 'map_value_or_null'" after R0): the
	// reason names the unchecked map value.
	if !strings.Contains(strings.ToLower(strings.Join(ve.Log, "\n")), "null") {
		t.Errorf("log lacks the reason:\n%s", strings.Join(ve.Log, "\n"))
	}
	t.Logf("%v", err)
}
