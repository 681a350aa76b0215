package loader

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf/rlimit"
)

var memlockOnce = sync.OnceValue(func() error {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones
	// to the cgroup, and this does nothing there.
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("raise memlock limit: %w", err)
	}
	return nil
})

func removeMemlock() error { return memlockOnce() }
