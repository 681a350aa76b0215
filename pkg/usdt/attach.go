package usdt

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// Map and constant names of bpf/include/usdt.bpf.h.
const (
	SpecsMap    = "usdt_specs"
	IPMap       = "usdt_ip_to_spec"
	IPLookupVar = "usdt_ip_lookup"
)

// Constants returns the usdt.bpf.h constants for this kernel, to merge
// into loader.Options.Constants of an object that includes usdt.bpf.h:
// kernels without BPF cookies (before 5.15) find a call site's spec by its
// address instead.
func Constants() map[string]any {
	return map[string]any{IPLookupVar: loader.Have(loader.Cookies) != nil}
}

// AttachOptions configure Attach.
type AttachOptions struct {
	// PID limits the probes to one process. Kernels without BPF cookies
	// need it for probes in PIEs and shared libraries, whose addresses
	// are known only in a running process.
	PID int
	// Cookie is what usdt_cookie(ctx) returns in the program, to tell
	// probes apart when one program serves several.
	Cookie uint64
}

// specTable gives spec ids in one object's usdt_specs map; sites with
// equal specs share an id.
type specTable struct {
	ids  map[string]uint32
	next uint32
}

var (
	tablesMu sync.Mutex
	tables   = map[*ebpf.Map]*specTable{}
)

// Attach attaches prog to every call site in sites (from Find or Probes),
// one uprobe each, with the site's semaphore as the uprobe's reference
// counter, and writes each site's argument spec where usdt_arg finds it.
// The links go to obj, whose Close detaches them and thus sets the
// semaphores back. obj must include usdt.bpf.h and have been loaded with
// Constants().
func Attach(obj *loader.Object, prog *ebpf.Program, sites []Probe, opts AttachOptions) error {
	if len(sites) == 0 {
		return errors.New("usdt: no call sites")
	}
	specs, ips := obj.Map(SpecsMap), obj.Map(IPMap)
	if specs == nil || ips == nil {
		return fmt.Errorf("usdt: object has no %s and %s maps (include usdt.bpf.h)", SpecsMap, IPMap)
	}
	ipLookup, err := ipLookupSet(obj)
	if err != nil {
		return err
	}

	tablesMu.Lock()
	tab, ok := tables[specs]
	if !ok {
		tab = &specTable{ids: map[string]uint32{}}
		tables[specs] = tab
		obj.OnClose(func() error {
			tablesMu.Lock()
			delete(tables, specs)
			tablesMu.Unlock()
			return nil
		})
	}
	tablesMu.Unlock()

	var maps []uprobe.Mapping
	for _, s := range sites {
		enc, err := encodeSpec(s, opts.Cookie)
		if err != nil {
			return fmt.Errorf("%s at %s %#x: %w", s.FullName(), s.Target.Path, s.Location, err)
		}
		id, err := tab.id(specs, enc)
		if err != nil {
			return fmt.Errorf("%s: %w", s.FullName(), err)
		}
		uo := uprobe.Options{PID: opts.PID, RefCtrOffset: s.SemaphoreOffset}
		if ipLookup {
			ip := s.Location
			if s.Shared {
				if opts.PID == 0 {
					return fmt.Errorf("%s in %s: %w: this kernel has no BPF cookies (5.15+), so probes in PIEs and shared libraries need a PID", s.FullName(), s.Target.Path, loader.ErrNotSupported)
				}
				if maps == nil {
					if maps, err = uprobe.ReadMappings(opts.PID); err != nil {
						return err
					}
				}
				if ip, err = uprobe.RuntimeAddress(maps, s.Target, s.Offset); err != nil {
					return fmt.Errorf("%s: %w", s.FullName(), err)
				}
			}
			if err := ips.Put(ip, id); err != nil {
				return fmt.Errorf("%s: %s: %w", s.FullName(), IPMap, err)
			}
		} else {
			uo.Cookie = uint64(id)
		}
		if err := uprobe.AttachFile(obj, prog, s.Target.HostPath, s.Offset, uo); err != nil {
			return fmt.Errorf("%s at %s %#x: %w", s.FullName(), s.Target.Path, s.Location, err)
		}
	}
	return nil
}

// id returns the spec id of enc, writing it to the map the first time.
func (t *specTable) id(specs *ebpf.Map, enc []byte) (uint32, error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if id, ok := t.ids[string(enc)]; ok {
		return id, nil
	}
	if t.next >= specs.MaxEntries() {
		return 0, fmt.Errorf("more than %d distinct argument specs: raise USDT_MAX_SPECS", specs.MaxEntries())
	}
	id := t.next
	if err := specs.Put(id, enc); err != nil {
		return 0, fmt.Errorf("%s: %w", SpecsMap, err)
	}
	t.next++
	t.ids[string(enc)] = id
	return id, nil
}

// ipLookupSet reads usdt_ip_lookup from the loaded object and checks it
// against the kernel.
func ipLookupSet(obj *loader.Object) (bool, error) {
	v, ok := obj.Collection.Variables[IPLookupVar]
	if !ok {
		return false, fmt.Errorf("usdt: object has no %s (include usdt.bpf.h)", IPLookupVar)
	}
	var set bool
	if err := v.Get(&set); err != nil {
		// Not readable on this kernel: trust the feature probe.
		return loader.Have(loader.Cookies) != nil, nil
	}
	if !set && loader.Have(loader.Cookies) != nil {
		return false, fmt.Errorf("usdt: %w: this kernel has no BPF cookies and the object was loaded without usdt.Constants()", loader.ErrNotSupported)
	}
	return set, nil
}
