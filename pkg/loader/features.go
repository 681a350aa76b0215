package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Feature is a kernel capability a backend may need.
type Feature string

// The features the loader probes. Their names are used by --backend errors,
// by tests (BPFSCOPE_TEST_ABSENT) and by the VM test's kernel matrix.
const (
	Kprobes     Feature = "kprobes"      // kprobe PMU or kprobe_events
	KprobeMulti Feature = "kprobe_multi" // BPF_LINK_TYPE_KPROBE_MULTI
	Fentry      Feature = "fentry"       // fentry/fexit trampolines
	TPBTF       Feature = "tp_btf"       // BTF-typed raw tracepoints
	RawTP       Feature = "raw_tp"       // raw tracepoints
	RingBuf     Feature = "ringbuf"      // BPF_MAP_TYPE_RINGBUF
	Cookies     Feature = "cookies"      // bpf_get_attach_cookie
	UprobeMulti Feature = "uprobe_multi" // BPF_LINK_TYPE_UPROBE_MULTI
)

// AllFeatures lists every feature the loader probes, in a stable order.
var AllFeatures = []Feature{Kprobes, KprobeMulti, Fentry, TPBTF, RawTP, RingBuf, Cookies, UprobeMulti}

var probes = map[Feature]func() error{
	Kprobes:     probeKprobes,
	KprobeMulti: probeKprobeMulti,
	Fentry:      probeFentry,
	TPBTF:       probeTPBTF,
	RawTP:       func() error { return features.HaveProgramType(ebpf.RawTracepoint) },
	RingBuf:     func() error { return features.HaveMapType(ebpf.RingBuf) },
	Cookies:     func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie) },
	UprobeMulti: features.HaveBPFLinkUprobeMulti,
}

var (
	featureMu    sync.Mutex
	featureCache = map[Feature]error{}
)

// Have reports whether the kernel has f: nil if it does, else an error
// wrapping ErrNotSupported that says why not. Each feature is probed once.
func Have(f Feature) error {
	featureMu.Lock()
	defer featureMu.Unlock()
	if err, ok := featureCache[f]; ok {
		return err
	}
	probe, ok := probes[f]
	if !ok {
		return fmt.Errorf("feature %q: %w", f, ErrUnknownFeature)
	}
	err := probe()
	if err != nil && !errors.Is(err, ErrNotSupported) {
		err = fmt.Errorf("%s: %w: %w", f, ErrNotSupported, err)
	}
	featureCache[f] = err
	return err
}

// ErrUnknownFeature is returned by Have for a name it does not know.
var ErrUnknownFeature = errors.New("unknown feature")

// tracefsDirs are the places tracefs is usually mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// probeKprobes looks for the kprobe PMU or the legacy kprobe_events file.
// A failed attach cannot tell these apart: cilium/ebpf reports a kernel
// without kprobes and a missing symbol with the same os.ErrNotExist.
func probeKprobes() error {
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe/type"); err == nil {
		return nil
	}
	for _, d := range tracefsDirs {
		if _, err := os.Stat(d + "/kprobe_events"); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s: %w: no kprobe PMU and no kprobe_events (CONFIG_KPROBES unset?)", Kprobes, ErrNotSupported)
}

func probeKprobeMulti() error {
	if err := probeKprobes(); err != nil {
		return err
	}
	return features.HaveBPFLinkKprobeMulti()
}

// fentryTarget is a function every kernel with BPF test runs has.
const fentryTarget = "bpf_fentry_test1"

// probeFentry loads and attaches a tiny fentry program: some kernels load
// tracing programs but refuse to attach them, others refuse the load with
// EPERM and an empty log when ftrace hooking is blocked.
func probeFentry() error {
	return probeTracing(Fentry, ebpf.AttachTraceFEntry, fentryTarget)
}

// probeTPBTF loads and attaches a tiny tp_btf program on sched_switch.
func probeTPBTF() error {
	return probeTracing(TPBTF, ebpf.AttachTraceRawTp, "sched_switch")
}

func probeTracing(f Feature, at ebpf.AttachType, target string) error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:       ebpf.Tracing,
		AttachType: at,
		AttachTo:   target,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{})
	if errors.Is(err, unix.EPERM) && os.Geteuid() == 0 {
		// cilium/ebpf suggests raising MEMLOCK here, which is not it.
		return fmt.Errorf("%s: %w: the kernel refused to load a %s program (EPERM; trampolines blocked, e.g. by lockdown or a PVM host)", f, ErrNotSupported, f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w: load: %w", f, ErrNotSupported, err)
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("%s: %w: attach: %w", f, ErrNotSupported, err)
	}
	return l.Close()
}

// FeatureReport probes every feature and returns one line per feature, for
// -v output and test logs.
func FeatureReport() string {
	var b strings.Builder
	for _, f := range AllFeatures {
		if err := Have(f); err != nil {
			fmt.Fprintf(&b, "%-13s no (%v)\n", f, err)
		} else {
			fmt.Fprintf(&b, "%-13s yes\n", f)
		}
	}
	return b.String()
}
