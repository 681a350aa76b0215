package maps

import (
	"context"
	"encoding/binary"
	"fmt"
)

// ConsumeEvents is Consume for streams of fixed-size records of type T
// (usually a bpf2go-generated struct): each sample is decoded into a T and
// handed to onEvent. Losses go to onLost, including those the stream counted
// but had not yet reported when it stopped.
func ConsumeEvents[T any](ctx context.Context, s *EventStream, onEvent func(*T) error, onLost func(n uint64)) error {
	var (
		ev   T
		size = binary.Size(ev)
	)
	if size < 0 {
		return fmt.Errorf("event type %T has no fixed size", ev)
	}
	return ConsumeAll(ctx, s, func(data []byte) error {
		if len(data) < size {
			return fmt.Errorf("short event: %d bytes, want %d", len(data), size)
		}
		if _, err := binary.Decode(data, binary.NativeEndian, &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		return onEvent(&ev)
	}, onLost)
}

// ConsumeAll is s.Consume that also hands onLost the losses the stream
// counted but had not yet reported when it stopped, so that none goes
// unreported.
func ConsumeAll(ctx context.Context, s *EventStream, onEvent func(data []byte) error, onLost func(n uint64)) error {
	var reported uint64
	lost := func(n uint64) {
		reported += n
		if onLost != nil {
			onLost(n)
		}
	}
	err := s.Consume(ctx, onEvent, lost)
	if n := s.Lost() - reported; n > 0 {
		lost(n)
	}
	return err
}

// CString returns the NUL-terminated string in a fixed-size char array of a
// BPF record (bpf2go turns char[N] into [N]int8), such as a task's comm.
func CString(c []int8) string {
	b := make([]byte, 0, len(c))
	for _, ch := range c {
		if ch == 0 {
			break
		}
		b = append(b, byte(ch))
	}
	return string(b)
}
