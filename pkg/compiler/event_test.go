package compiler

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// TestEmit sends events through the ring buffer and the perf buffer, as
// pkg/loader chooses, and decodes them.
func TestEmit(t *testing.T) {
	kerneltest.Root(t)
	for _, perf := range []bool{false, true} {
		t.Run(fmt.Sprintf("perf=%v", perf), func(t *testing.T) {
			if !perf {
				kerneltest.Need(t, loader.RingBuf)
			}
			holdTracepoint(t)
			fd := devNull(t)
			spec := fmt.Sprintf("t:syscalls:sys_enter_write():u64,char*,int:args->count,$COMM,-(int)args->count:args->fd == %d", fd)
			p := probe(t, spec, Emit)
			coll, err := Compile([]Probe{p, p}, Options{PID: os.Getpid(), KernelStacks: true})
			if err != nil {
				t.Fatal(err)
			}
			obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{{Name: "tracepoint", Spec: func() (*ebpf.CollectionSpec, error) { return coll.Spec, nil }}}},
				loader.Options{PerfBuffer: perf})
			if err != nil {
				t.Fatalf("%v\n%s", err, coll.Listing())
			}
			defer obj.Close()
			if obj.RingBuf == perf {
				t.Fatalf("events through the ring buffer: %v", obj.RingBuf)
			}
			events, err := obj.OpenEvents(0)
			if err != nil {
				t.Fatal(err)
			}
			counts := []uint64{3, 1000, 70000}
			writeCounts(t, fd, counts)
			writeCounts(t, fd, []uint64{1}) // perf buffers report loss on the next event
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			layout := coll.Probes[0].Key
			var got []string
			probes := map[uint32]int{}
			err = events.Consume(ctx, func(data []byte) error {
				var h EventHeader
				if _, err := binary.Decode(data, binary.NativeEndian, &h); err != nil {
					return err
				}
				if int(h.PidTgid>>32) != os.Getpid() || h.KernelStack == -1 || !bytes.HasPrefix(h.Comm[:], []byte(self())) {
					t.Errorf("header %+v: want pid %d, comm %q, a kernel stack id", h, os.Getpid(), self())
				}
				probes[h.Probe]++
				if h.Probe == 0 {
					got = append(got, fmt.Sprintf("%s %s %s", layout.Fields[0].Format(data), layout.Fields[1].Format(data), layout.Fields[2].Format(data)))
				}
				if len(got) == len(counts)+1 && probes[1] == len(counts)+1 {
					cancel()
				}
				return nil
			}, func(n uint64) { t.Errorf("lost %d events", n) })
			if err != nil && ctx.Err() == nil {
				t.Fatal(err)
			}
			want := []string{}
			for _, n := range append(counts, 1) {
				want = append(want, fmt.Sprintf("%d %s %d", n, self(), -int32(n)))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || probes[1] != len(want) {
				t.Errorf("events %q (probe 1: %d), want %q", got, probes[1], want)
			}
		})
	}
}

// self is this process's comm.
func self() string {
	b, _ := os.ReadFile("/proc/self/comm")
	return string(bytes.TrimSpace(b))
}
