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

	closeOnce sync.Once
	closeErr  error
}

// NewPerfStream reads the perf event array m with perCPUBuffer bytes per
// CPU (0 picks 64 pages; bcc's default is 8, which loses events under load).
func NewPerfStream(m *ebpf.Map, perCPUBuffer int) (*EventStream, error) {
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
	return &EventStream{perf: r}, nil
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
	if err := s.perf.ReadInto(&s.prec); err != nil {
		if errors.Is(err, perf.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("read perf buffer: %w", err)
	}
	ev.CPU = s.prec.CPU
	if s.prec.LostSamples > 0 {
		ev.Lost = s.prec.LostSamples
		s.lost += ev.Lost
		return nil
	}
	ev.Data = s.prec.RawSample
	return nil
}

func (s *EventStream) readRing(ev *Event) error {
	for {
		if s.dropped != nil && time.Since(s.lastCheck) >= dropCheckInterval {
			if n := s.newDrops(); n > 0 {
				ev.Lost = n
				return nil
			}
		}
		if s.dropped != nil {
			s.ring.SetDeadline(s.lastCheck.Add(dropCheckInterval))
		}
		err := s.ring.ReadInto(&s.rrec)
		switch {
		case err == nil:
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
		} else {
			s.closeErr = s.ring.Close()
		}
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
