package kerneltest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kvmguest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// KVM features, for NeedKVM. They are properties of the machine's KVM, not
// of the kernel's BPF support, so loader.Have does not know them.
const (
	// KVM: /dev/kvm runs a guest.
	KVM loader.Feature = "kvm"
	// KVMExit: kvm:kvm_exit and kvm:kvm_entry fire for a guest's exits.
	// They do not on the PVM backend, which exits to userspace without
	// them.
	KVMExit loader.Feature = "kvm_exit"
)

// kvmRequired lists the KVM features that must be there: a comma-separated
// list in BPFSCOPE_TEST_KVM (the nested-KVM VM test sets
// BPFSCOPE_TEST_KVM=kvm,kvm_exit).
func kvmRequired() []loader.Feature {
	var fs []loader.Feature
	for _, f := range strings.Split(os.Getenv("BPFSCOPE_TEST_KVM"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			fs = append(fs, loader.Feature(f))
		}
	}
	return fs
}

var (
	kvmProbeMu sync.Mutex
	kvmProbes  = map[loader.Feature]error{}
)

// probeKVM probes a KVM feature once per process.
func probeKVM(f loader.Feature) error {
	kvmProbeMu.Lock()
	defer kvmProbeMu.Unlock()
	if err, ok := kvmProbes[f]; ok {
		return err
	}
	var err error
	switch f {
	case KVM:
		err = kvmguest.Available()
	case KVMExit:
		if err = kvmguest.Available(); err != nil {
			break
		}
		var (
			res    *kvmguest.Result
			counts map[string]uint64
		)
		res, counts, err = kvmguest.CountTracepoints(kvmguest.Config{Outs: 3, Iterations: 2}, "kvm_exit", "kvm_userspace_exit")
		switch {
		case err != nil:
		case counts["kvm_exit"] == 0 && counts["kvm_userspace_exit"] > 0:
			err = fmt.Errorf("kvm_exit does not fire on this KVM backend (e.g. PVM): a guest made %d exits to userspace and no kvm:kvm_exit events", counts["kvm_userspace_exit"])
		case counts["kvm_exit"] < uint64(res.Exits(kvmguest.ExitIO)+res.Exits(kvmguest.ExitHLT)):
			err = fmt.Errorf("kvm:kvm_exit fired %d times for a guest that made %d exits", counts["kvm_exit"], res.Exits(kvmguest.ExitIO)+res.Exits(kvmguest.ExitHLT))
		}
	default:
		err = fmt.Errorf("feature %q: %w", f, loader.ErrUnknownFeature)
	}
	kvmProbes[f] = err
	return err
}

// NeedKVM skips the test unless the machine has the KVM features fs; it
// implies Root. A missing KVM feature skips even in strict mode, because
// most machines and most VM test kernels have no KVM (no modules, no nested
// virtualization) and the PVM backend never fires kvm_exit: these are not
// gaps in the kernel's BPF support. Features listed in BPFSCOPE_TEST_KVM
// must be there (their absence fails the test); features declared absent in
// BPFSCOPE_TEST_ABSENT behave as in Need.
func NeedKVM(t testing.TB, fs ...loader.Feature) {
	t.Helper()
	Root(t)
	absent := declaredAbsent()
	required := kvmRequired()
	for _, f := range fs {
		err := probeKVM(f)
		declared := slices.Contains(absent, f)
		switch {
		case err == nil && declared && Strict():
			t.Fatalf("BPFSCOPE_TEST_ABSENT lists %s but this machine has it", f)
		case err == nil:
		case declared:
			t.Skipf("machine lacks %s (declared absent): %v", f, err)
		case slices.Contains(required, f):
			t.Fatalf("BPFSCOPE_TEST_KVM requires %s: %v", f, err)
		default:
			t.Skipf("machine lacks %s: %v", f, err)
		}
	}
}

// HaveKVM reports whether the machine has the KVM feature f (KVM or
// KVMExit): nil if it does, else why not. Each is probed once.
func HaveKVM(f loader.Feature) error { return probeKVM(f) }
