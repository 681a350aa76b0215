package maps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// MaxStackDepth is the number of frames a stack trace map value holds
// (the kernel's PERF_MAX_STACK_DEPTH).
const MaxStackDepth = 127

// ReadStack returns the frames of stack id in the stack trace map m,
// innermost first, into buf (which it may grow). A stack that is gone
// (evicted or never stored) gives an error wrapping ebpf.ErrKeyNotExist.
func ReadStack(m *ebpf.Map, id uint32, buf []uint64) ([]uint64, error) {
	if cap(buf) < MaxStackDepth {
		buf = make([]uint64, MaxStackDepth)
	}
	buf = buf[:MaxStackDepth]
	if err := m.Lookup(id, buf); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("stack %d: %w", id, err)
		}
		return nil, fmt.Errorf("read stack %d: %w", id, err)
	}
	for i, pc := range buf {
		if pc == 0 {
			return buf[:i], nil
		}
	}
	return buf, nil
}
