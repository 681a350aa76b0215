package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
)

// Backend is one way of implementing a tool's hooks, compiled into its own
// BPF object.
type Backend struct {
	// Name is shown by -v and accepted by --backend: "fentry", "kprobe",
	// "tp_btf", "raw_tp", "tracepoint".
	Name string
	// Needs lists the kernel features the backend cannot do without.
	Needs []Feature
	// Spec returns the backend's object, usually bpf2go's LoadXxx.
	Spec func() (*ebpf.CollectionSpec, error)
}

// Plan is a tool's ordered list of backends for its hooks, best first.
type Plan struct {
	Backends []Backend
}

// Names returns the backend names in order, for --backend's help.
func (p Plan) Names() []string {
	names := make([]string, len(p.Backends))
	for i, b := range p.Backends {
		names[i] = b.Name
	}
	return names
}

// Options configure Open.
type Options struct {
	// Backend forces one backend by name; empty picks the first the kernel
	// supports.
	Backend string
	// Constants are `const volatile` globals set before load.
	Constants map[string]any
	// MaxEntries overrides map sizes by map name.
	MaxEntries map[string]uint32
	// PerfBuffer makes events travel through the per-CPU perf buffer even
	// where the kernel has a ring buffer.
	PerfBuffer bool
	// RingBufferSize is the ring buffer size in bytes, a power of two
	// multiple of the page size; zero means DefaultRingBufferSize.
	RingBufferSize uint32
	// Skip names programs that must be neither loaded nor attached.
	Skip []string
}

// DefaultRingBufferSize is the events ring buffer size when Options leave it
// zero.
const DefaultRingBufferSize = 1 << 20

// Attempt records why a backend was passed over.
type Attempt struct {
	Backend string
	Err     error
}

// Open picks a backend from the plan, loads and attaches it. With
// opts.Backend set it uses that backend or fails; otherwise it tries the
// backends in order, passing over those whose features the kernel lacks and
// those the kernel refuses, and fails only if none works.
func Open(p Plan, opts Options) (*Object, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	if err := CheckBTF(); err != nil {
		return nil, err
	}
	if err := removeMemlock(); err != nil {
		return nil, err
	}

	if opts.Backend != "" {
		b, ok := p.backend(opts.Backend)
		if !ok {
			return nil, fmt.Errorf("backend %q: %w (choose one of %s)", opts.Backend, ErrUnknownBackend, strings.Join(p.Names(), ", "))
		}
		if err := b.supported(); err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		obj, err := open(b, opts)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", b.Name, err)
		}
		return obj, nil
	}

	var attempts []Attempt
	for _, b := range p.Backends {
		if err := b.supported(); err != nil {
			attempts = append(attempts, Attempt{b.Name, err})
			continue
		}
		obj, err := open(b, opts)
		if err != nil {
			attempts = append(attempts, Attempt{b.Name, err})
			// Missing privileges do not get better with another backend.
			if errors.Is(err, ErrNotPermitted) || errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
				break
			}
			continue
		}
		obj.Attempts = attempts
		return obj, nil
	}
	return nil, &NoBackendError{Attempts: attempts}
}

// NoBackendError is returned when no backend of a plan could be used.
type NoBackendError struct {
	Attempts []Attempt
}

func (e *NoBackendError) Error() string {
	parts := make([]string, len(e.Attempts))
	for i, a := range e.Attempts {
		parts[i] = fmt.Sprintf("%s: %v", a.Backend, a.Err)
	}
	return "no backend works on this kernel: " + strings.Join(parts, "; ")
}

func (e *NoBackendError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		errs[i] = a.Err
	}
	return errs
}

func (p Plan) backend(name string) (Backend, bool) {
	for _, b := range p.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

func (b Backend) supported() error {
	for _, f := range b.Needs {
		if err := Have(f); err != nil {
			return err
		}
	}
	return nil
}

// open loads and attaches one backend.
func open(b Backend, opts Options) (_ *Object, err error) {
	spec, err := b.Spec()
	if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	for _, name := range opts.Skip {
		delete(spec.Programs, name)
	}
	ring, err := configureEvents(spec, opts)
	if err != nil {
		return nil, err
	}
	if err := setConstants(spec, opts.Constants); err != nil {
		return nil, err
	}
	for name, n := range opts.MaxEntries {
		m, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("map %s: not in object", name)
		}
		m.MaxEntries = n
	}

	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load: %w", asVerifierError(err))
	}
	obj := &Object{Backend: b.Name, Collection: coll, RingBuf: ring}
	defer func() {
		if err != nil {
			obj.Close()
		}
	}()
	if err := obj.attachAll(spec); err != nil {
		return nil, err
	}
	return obj, nil
}

// configureEvents sets up the events.bpf.h stream, if the object has one:
// the ring buffer where the kernel has it and the tool allows it, else the
// perf buffer, with the unused map shrunk or replaced.
func configureEvents(spec *ebpf.CollectionSpec, opts Options) (ring bool, err error) {
	rb, ok := spec.Maps["events_rb"]
	if !ok {
		return false, nil
	}
	haveRing := Have(RingBuf) == nil
	ring = haveRing && !opts.PerfBuffer
	switch {
	case ring:
		rb.MaxEntries = opts.RingBufferSize
		if rb.MaxEntries == 0 {
			rb.MaxEntries = DefaultRingBufferSize
		}
	case haveRing:
		rb.MaxEntries = uint32(os.Getpagesize())
	default:
		// The programs never touch it (use_ringbuf is false and the
		// verifier prunes that branch), but the map must exist.
		rb.Type, rb.KeySize, rb.ValueSize, rb.MaxEntries = ebpf.Array, 4, 4, 1
	}
	if v, ok := spec.Variables["use_ringbuf"]; ok {
		if err := v.Set(ring); err != nil {
			return false, fmt.Errorf("set use_ringbuf: %w", err)
		}
	}
	return ring, nil
}

func setConstants(spec *ebpf.CollectionSpec, consts map[string]any) error {
	for name, val := range consts {
		v, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("constant %s: not in object", name)
		}
		if err := v.Set(val); err != nil {
			return fmt.Errorf("constant %s: %w", name, err)
		}
	}
	return nil
}
