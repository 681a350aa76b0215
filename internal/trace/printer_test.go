package trace

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// testProbe is a probe as Run makes it, with the record layout the
// compiler would give its arguments.
func testProbe(t testing.TB, text string, fields ...compiler.Field) *probe {
	t.Helper()
	p, err := parseProbe(text)
	if err != nil {
		t.Fatal(err)
	}
	l := compiler.Layout{Size: compiler.EventHeaderSize, Fields: fields}
	for _, f := range fields {
		l.Size = max(l.Size, f.Offset+f.Size)
	}
	p.cp = &compiler.Compiled{Key: l}
	return p
}

// record builds an event record of probe idx.
func record(idx uint32, pid, tid uint32, comm string, size int, values func(b []byte)) []byte {
	b := make([]byte, size)
	binary.NativeEndian.PutUint64(b[hdrPid:], uint64(pid)<<32|uint64(tid))
	binary.NativeEndian.PutUint32(b[hdrProbe:], idx)
	copy(b[hdrComm:hdrComm+15], comm)
	binary.NativeEndian.PutUint64(b[hdrKStack:], ^uint64(0))
	binary.NativeEndian.PutUint64(b[hdrUStack:], ^uint64(0))
	if values != nil {
		values(b)
	}
	return b
}

var _ = probespec.Entry

// BenchmarkPrinter measures the user-space cost of one event: decoding,
// formatting and writing a line (to io.Discard), next to writing a fixed
// line of the same length, in the same run.
func BenchmarkPrinter(b *testing.B) {
	p := testProbe(b, `t:syscalls:sys_enter_getppid "hello %d", args->__syscall_nr`,
		compiler.Field{Offset: 56, Size: 4, Kind: compiler.Int, Signed: true})
	rec := record(0, 1234, 1234, "spin", 64, func(b []byte) { binary.NativeEndian.PutUint32(b[56:], 110) })
	out := newOutput(io.Discard)
	defer out.stop()
	pr := newPrinter(Config{}, []*probe{p}, out, nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := pr.event(rec); err != nil {
			b.Fatal(err)
		}
	}
}
