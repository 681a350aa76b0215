package maps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
)

// ErrClosed is returned by EventStream.Read after Close.
var ErrClosed = errors.New("event stream closed")

// Event is one record of an event stream: either a sample in Data, or a
// count of samples lost since the previous record in Lost.
type Event struct {
	Data []byte
	CPU  int
	Lost uint64
}

// dropCheckInterval bounds how long a ring buffer drop goes unreported.
const dropCheckInterval = 250 * time.Millisecond

// When the reader finds busyRecords or more records each time it drains the
// ring buffer, it pauses busyPause before reading on: at a million records
// a second, the ring (1 MiB by default) holds more than ten times that.
const (
	busyRecords = 256
	busyPause   = 500 * time.Microsecond
	checkEvery  = 4096
)

// EventStream reads events from a perf buffer or a ring buffer behind one
// API. It is not safe for concurrent Reads; Close may be called from any
// goroutine.
type EventStream struct {
	perf *perf.Reader
	ring *ringbuf.Reader

	// Ring buffers drop silently; the BPF side counts drops per CPU in
	// dropped (events.bpf.h).
	dropped     *ebpf.Map
	seenDropped uint64
	lastCheck   time.Time

	prec perf.Record
	rrec ringbuf.Record
	lost uint64
	// drained counts the records read since the buffer was last empty.
	drained int
	// deadline is the read deadline set: the next drop check.
	deadline time.Time

	closeOnce sync.Once
	closeErr  error
	// mu orders Close against the ring reader's lock-free calls.
	mu     sync.Mutex
	closed bool
}

// NewPerfStream reads the perf event array m with perCPUBuffer bytes per
// CPU (0 picks 64 pages; bcc's default is 8, which loses events under load).
// dropped is the per-CPU array of drop counts the BPF side keeps
// (events.bpf.h), or nil: the kernel's lost-sample records are then
// counted instead, but those only come with the next sample that fits, so
// the losses of a final burst would never be reported.
func NewPerfStream(m *ebpf.Map, perCPUBuffer int, dropped *ebpf.Map) (*EventStream, error) {
	if m == nil {
		return nil, fmt.Errorf("perf buffer: no map")
	}
	if perCPUBuffer <= 0 {
		perCPUBuffer = 64 * os.Getpagesize()
	}
	r, err := perf.NewReader(m, perCPUBuffer)
	if err != nil {
		return nil, fmt.Errorf("perf buffer: %w", err)
	}
	return &EventStream{perf: r, dropped: dropped, lastCheck: time.Now()}, nil
}

// NewRingStream reads the ring buffer m; dropped is the per-CPU array of
// drop counts the BPF side keeps (nil if it keeps none).
func NewRingStream(m, dropped *ebpf.Map) (*EventStream, error) {
	if m == nil {
		return nil, fmt.Errorf("ring buffer: no map")
	}
	r, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("ring buffer: %w", err)
	}
	return &EventStream{ring: r, dropped: dropped, lastCheck: time.Now()}, nil
}

// Read blocks until the next event. Data is only valid until the next call.
// After Close it returns ErrClosed.
func (s *EventStream) Read(ev *Event) error {
	*ev = Event{}
	if s.perf != nil {
		return s.readPerf(ev)
	}
	return s.readRing(ev)
}

func (s *EventStream) readPerf(ev *Event) error {
	for {
		if n := s.checkDrops(false); n > 0 {
			ev.Lost = n
			return nil
		}
		err := s.perf.ReadInto(&s.prec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.drained = 0
			continue
		case errors.Is(err, perf.ErrClosed):
			return ErrClosed
		case err != nil:
			return fmt.Errorf("read perf buffer: %w", err)
		}
		ev.CPU = s.prec.CPU
		if s.prec.LostSamples > 0 {
			if s.dropped != nil {
				// Counted by the BPF side too.
				continue
			}
			ev.Lost = s.prec.LostSamples
			s.lost += ev.Lost
			return nil
		}
		s.drained++
		ev.Data = s.prec.RawSample
		return nil
	}
}

// checkDrops returns the drops the BPF side counted since the last report,
// looking when the stream is idle (or empty: a ring buffer that was just
// drained) and every checkEvery records, not per record: at a million
// records a second, per-record overhead is what limits the reader. It
// keeps the read deadline at the next check.
func (s *EventStream) checkDrops(empty bool) uint64 {
	if s.dropped == nil || !empty && s.drained%checkEvery != 0 {
		return 0
	}
	var n uint64
	if time.Since(s.lastCheck) >= dropCheckInterval {
		n = s.newDrops()
	}
	if d := s.lastCheck.Add(dropCheckInterval); !d.Equal(s.deadline) {
		s.deadline = d
		if s.perf != nil {
			s.perf.SetDeadline(d)
		} else {
			s.ring.SetDeadline(d)
		}
	}
	return n
}

func (s *EventStream) readRing(ev *Event) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		empty := s.ring.AvailableBytes() == 0
		s.mu.Unlock()
		if n := s.checkDrops(empty); n > 0 {
			ev.Lost = n
			return nil
		}
		if empty {
			if s.drained >= busyRecords {
				// Records arrive fast: let them collect. A record
				// written while the reader has caught up costs the
				// writer a wakeup (an interrupt), several times what
				// the record itself costs.
				time.Sleep(busyPause)
			}
			s.drained = 0
		}
		err := s.ring.ReadInto(&s.rrec)
		switch {
		case err == nil:
			s.drained++
			ev.Data = s.rrec.RawSample
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return ErrClosed
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
	}
}

// newDrops returns the drops counted since the last call.
func (s *EventStream) newDrops() uint64 {
	s.lastCheck = time.Now()
	total, err := SumPerCPU[uint32, uint64](s.dropped, 0)
	if err != nil || total <= s.seenDropped {
		return 0
	}
	n := total - s.seenDropped
	s.seenDropped = total
	s.lost += n
	return n
}

// Lost returns the number of events lost so far, including ring buffer drops
// not yet returned by Read.
func (s *EventStream) Lost() uint64 {
	if s.ring != nil && s.dropped != nil {
		s.newDrops()
	}
	return s.lost
}

// Close stops the stream; a blocked Read returns ErrClosed. It is safe to
// call more than once.
func (s *EventStream) Close() error {
	s.closeOnce.Do(func() {
		if s.perf != nil {
			s.closeErr = s.perf.Close()
			return
		}
		s.mu.Lock()
		s.closed = true
		s.closeErr = s.ring.Close()
		s.mu.Unlock()
	})
	return s.closeErr
}

// Consume reads events until ctx is done or the stream is closed, handing
// samples to onEvent and loss counts to onLost. It closes the stream when ctx
// is done and returns nil then; an error from onEvent stops it and is
// returned.
func (s *EventStream) Consume(ctx context.Context, onEvent func(data []byte) error, onLost func(n uint64)) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var ev Event
	for {
		err := s.Read(&ev)
		if errors.Is(err, ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Lost > 0 {
			if onLost != nil {
				onLost(ev.Lost)
			}
			continue
		}
		if err := onEvent(ev.Data); err != nil {
			return err
		}
	}
}
