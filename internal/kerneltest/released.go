package kerneltest

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// AwaitReleased is AssertReleased for objects the kernel may free a little
// after the process that held them exited: since 6.9, raw_tp and tp_btf
// links drop their program only after an RCU grace period, so its id
// lingers for a few milliseconds. It waits up to timeout for every object
// to go, then asserts as AssertReleased.
func AwaitReleased(t testing.TB, objs BPFObjects, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && anyExists(objs) {
		time.Sleep(10 * time.Millisecond)
	}
	AssertReleased(t, objs)
}

func anyExists(objs BPFObjects) bool {
	for _, id := range objs.Programs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			return true
		}
	}
	for _, id := range objs.Links {
		if l, err := link.NewFromID(id); err == nil {
			l.Close()
			return true
		}
	}
	return false
}
