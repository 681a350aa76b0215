package compiler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// LoadOptions configure Open.
type LoadOptions struct {
	// Loader is passed to loader.Open. Its Backend forces fentry or
	// kprobe for kernel function probes and is ignored without them.
	Loader loader.Options
	// Listing, when set, is called with each backend's listing as it is
	// compiled (the tools' -v).
	Listing func(backend, listing string)
}

// ErrKernelFunctions wraps the failure of every backend for kernel function
// probes (p::, r::): the kernel has neither fentry nor kprobes, or refused
// both.
var ErrKernelFunctions = errors.New("kernel function probes (p::, r::) need fentry or kprobes")

// Open compiles probes, loads them with the best backend the kernel has
// (fentry, else kprobes, for kernel functions) and attaches them all,
// uprobes and USDT included. Mistakes in the probes are found before the
// kernel is touched and returned as *probespec.Error values. Closing the
// object detaches everything.
func Open(probes []Probe, opts Options, lo LoadOptions) (*loader.Object, *Collection, error) {
	if _, err := Compile(probes, opts); err != nil {
		return nil, nil, err
	}
	colls := map[string]*Collection{}
	backend := func(name string, b Backend, needs ...loader.Feature) loader.Backend {
		return loader.Backend{Name: name, Needs: needs, Spec: func() (*ebpf.CollectionSpec, error) {
			o := opts
			o.Backend = b
			coll, err := Compile(probes, o)
			if err != nil {
				return nil, err
			}
			colls[name] = coll
			if lo.Listing != nil {
				lo.Listing(name, coll.Listing())
			}
			return coll.Spec, nil
		}}
	}
	var plan loader.Plan
	kernelFuncs := KernelFunctions(probes)
	if kernelFuncs {
		plan.Backends = []loader.Backend{
			backend(string(Fentry), Fentry, loader.Fentry),
			backend(string(Kprobe), Kprobe, loader.Kprobes),
		}
	} else {
		lo.Loader.Backend = ""
		plan.Backends = []loader.Backend{backend(hookKinds(probes), Kprobe)}
	}
	obj, err := loader.Open(plan, lo.Loader)
	if err != nil {
		var nb *loader.NoBackendError
		if kernelFuncs && errors.As(err, &nb) {
			return nil, nil, fmt.Errorf("%w: %w", ErrKernelFunctions, err)
		}
		return nil, nil, err
	}
	coll := colls[obj.Backend]
	if err := coll.Attach(obj, opts.PID); err != nil {
		obj.Close()
		return nil, nil, err
	}
	return obj, coll, nil
}

// KernelFunctions reports whether any probe hooks a kernel function.
func KernelFunctions(probes []Probe) bool {
	for _, p := range probes {
		if (p.Point.Kind == probespec.Entry || p.Point.Kind == probespec.Return) && p.Point.Library == "" {
			return true
		}
	}
	return false
}

// hookKinds names the backend of probes without kernel functions:
// "tracepoint", "uprobe+usdt".
func hookKinds(probes []Probe) string {
	var kinds []string
	for _, p := range probes {
		k := "uprobe"
		switch p.Point.Kind {
		case probespec.Tracepoint:
			k = "tracepoint"
		case probespec.USDT:
			k = "usdt"
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return strings.Join(kinds, "+")
}
