package loader

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfscope/bpfscope/pkg/maps"
)

// Object is a loaded and attached backend. Close detaches and frees all of
// it.
type Object struct {
	// Backend is the name of the backend in use.
	Backend string
	// Attempts lists the backends passed over before this one, and why.
	Attempts []Attempt
	// Collection holds the loaded maps and programs.
	Collection *ebpf.Collection
	// RingBuf tells whether events travel through the ring buffer (true)
	// or the per-CPU perf buffer.
	RingBuf bool

	mu      sync.Mutex
	links   []link.Link
	closers []func() error
	closed  bool
	err     error
}

// Map returns the named map or nil.
func (o *Object) Map(name string) *ebpf.Map { return o.Collection.Maps[name] }

// Program returns the named program or nil.
func (o *Object) Program(name string) *ebpf.Program { return o.Collection.Programs[name] }

// AddLink hands a link the caller attached to the object, so that Close
// detaches it.
func (o *Object) AddLink(l link.Link) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.links = append(o.links, l)
}

// OnClose registers fn to run at Close, before the links are detached, e.g.
// to close readers.
func (o *Object) OnClose(fn func() error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closers = append(o.closers, fn)
}

// OpenEvents opens the events.bpf.h stream of the object: its ring buffer or
// its perf buffer, whichever Open chose. perCPUBuffer is the perf buffer
// size per CPU in bytes (0 for the default). The stream is closed by Close.
func (o *Object) OpenEvents(perCPUBuffer int) (*maps.EventStream, error) {
	var (
		s   *maps.EventStream
		err error
	)
	if o.RingBuf {
		s, err = maps.NewRingStream(o.Map("events_rb"), o.Map("events_dropped"))
	} else {
		s, err = maps.NewPerfStream(o.Map("events"), perCPUBuffer, o.Map("events_dropped"))
	}
	if err != nil {
		return nil, fmt.Errorf("open events: %w", err)
	}
	o.OnClose(s.Close)
	return s, nil
}

// Close detaches every link and frees every program and map. It may be
// called more than once and from several goroutines; later calls return the
// first call's result.
func (o *Object) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return o.err
	}
	o.closed = true
	var errs []error
	for _, fn := range slices.Backward(o.closers) {
		errs = append(errs, fn())
	}
	for _, l := range slices.Backward(o.links) {
		errs = append(errs, l.Close())
	}
	o.links = nil
	if o.Collection != nil {
		o.Collection.Close()
	}
	o.err = errors.Join(errs...)
	return o.err
}
