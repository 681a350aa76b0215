package usdt

import (
	"debug/elf"
	"errors"
	"fmt"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// Probe is one call site of a USDT probe in one binary.
type Probe struct {
	Provider string
	Name     string
	// Target is the binary (executable or shared library).
	Target uprobe.Target
	// Shared tells a position-independent binary (ET_DYN: a PIE or a
	// shared library), whose addresses move at load time.
	Shared bool
	// Location is the call site's virtual address as linked, after the
	// .stapsdt.base (prelink) adjustment.
	Location uint64
	// Offset is the file offset of Location: where the uprobe goes.
	Offset uint64
	// Semaphore is the semaphore's virtual address as linked, 0 for none.
	Semaphore uint64
	// SemaphoreOffset is the file offset of Semaphore: the uprobe's
	// reference counter, which the kernel increments while attached.
	SemaphoreOffset uint64
	// ArgString is the argument string of the note.
	ArgString string
	// Args are the parsed arguments, with symbols resolved. Nil if Err.
	Args []Arg
	// Err tells why the site cannot be attached (an argument this
	// package cannot read, an address outside the binary's code); nil if
	// it can.
	Err error
}

// FullName is "provider:name".
func (p Probe) FullName() string { return p.Provider + ":" + p.Name }

// stapsdtBase is the section whose address, compared with the one in each
// note, tells how far prelink moved the binary.
const stapsdtBase = ".stapsdt.base"

// ReadProbes returns the USDT call sites of one binary, in note order.
func ReadProbes(t uprobe.Target) ([]Probe, error) {
	f, err := t.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return probesOf(f, t)
}

// probesOf reads the call sites of an open binary.
func probesOf(f *uprobe.File, t uprobe.Target) ([]Probe, error) {
	sec := f.Section(".note.stapsdt")
	if sec == nil || sec.Type != elf.SHT_NOTE {
		return nil, nil
	}
	data, err := f.SectionData(sec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	addrSize := 8
	if f.Class == elf.ELFCLASS32 {
		addrSize = 4
	}
	notes, err := parseNotes(data, f.ByteOrder, addrSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	var baseAddr uint64
	if b := f.Section(stapsdtBase); b != nil {
		baseAddr = b.Addr
	}
	probes := make([]Probe, 0, len(notes))
	for _, n := range notes {
		probes = append(probes, site(f, t, n, baseAddr))
	}
	return probes, nil
}

// site turns a note into a call site: addresses adjusted and mapped to
// file offsets, arguments parsed and their symbols resolved.
func site(f *uprobe.File, t uprobe.Target, n Note, baseAddr uint64) Probe {
	p := Probe{
		Provider:  n.Provider,
		Name:      n.Name,
		Target:    t,
		Shared:    f.Type == elf.ET_DYN,
		Location:  n.Location,
		Semaphore: n.Semaphore,
		ArgString: n.Args,
	}
	// prelink moves a binary after linking and updates .stapsdt.base's
	// address but not the notes: shift by the difference.
	if baseAddr != 0 && n.Base != 0 {
		p.Location += baseAddr - n.Base
		if p.Semaphore != 0 {
			p.Semaphore += baseAddr - n.Base
		}
	}
	var err error
	if p.Offset, err = f.FileOffset(p.Location, true); err != nil {
		p.Err = fmt.Errorf("call site: %w", err)
		return p
	}
	if p.Semaphore != 0 {
		if p.SemaphoreOffset, err = f.FileOffset(p.Semaphore, false); err != nil {
			p.Err = fmt.Errorf("semaphore: %w", err)
			return p
		}
	}
	args, err := ParseArgs(n.Args)
	if err != nil {
		p.Err = err
		return p
	}
	for i := range args {
		if args[i].Symbol == "" {
			continue
		}
		addr, err := f.LookupData(args[i].Symbol)
		if err != nil {
			p.Err = fmt.Errorf("argument %d: %w", i+1, err)
			return p
		}
		args[i].Address = addr
	}
	p.Args = args
	return p
}

// Probes returns the USDT call sites of a binary: target as
// uprobe.FindTarget resolves it (a path, a library name such as "c", an
// executable in PATH), in process pid's mount namespace if pid is set. With
// pid and no target, those of every binary the process has mapped: its
// executable and its shared libraries.
func Probes(target string, pid int) ([]Probe, error) {
	if target == "" && pid > 0 {
		mods, err := uprobe.Modules(pid)
		if err != nil {
			return nil, err
		}
		return probesIn(mods, true)
	}
	t, err := uprobe.FindTarget(target, pid)
	if err != nil {
		return nil, err
	}
	return ReadProbes(t)
}

// probesIn reads the call sites of several binaries; with lenient, a binary
// that cannot be read is passed over (a process maps files this one may
// not be able to parse).
func probesIn(ts []uprobe.Target, lenient bool) ([]Probe, error) {
	var all []Probe
	for _, t := range ts {
		ps, err := ReadProbes(t)
		if err != nil {
			if lenient {
				continue
			}
			return nil, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// ErrProbeNotFound means no binary searched has the probe.
var ErrProbeNotFound = errors.New("USDT probe not found")

// Find returns every call site of the probe provider:name (any provider if
// provider is "") in target and in its shared libraries: with pid, the
// libraries process pid has mapped (dlopen'ed ones too); without, those
// target needs (DT_NEEDED), found as the dynamic linker would. With pid and
// no target, the process's executable is the target.
func Find(target string, pid int, provider, name string) ([]Probe, error) {
	t, err := uprobe.FindTarget(target, pid)
	if err != nil {
		return nil, err
	}
	var libs []uprobe.Target
	if pid > 0 {
		libs, err = uprobe.Modules(pid)
	} else {
		libs, err = uprobe.SharedLibraries(t)
	}
	if err != nil {
		return nil, err
	}
	first, err := ReadProbes(t)
	if err != nil {
		return nil, err
	}
	rest, err := probesIn(dedupe(t, libs), true)
	if err != nil {
		return nil, err
	}
	var sites []Probe
	for _, p := range append(first, rest...) {
		if p.Name == name && (provider == "" || p.Provider == provider) {
			sites = append(sites, p)
		}
	}
	if len(sites) == 0 {
		what := name
		if provider != "" {
			what = provider + ":" + name
		}
		where := t.Path
		if pid > 0 {
			where = fmt.Sprintf("%s and the libraries of process %d", t.Path, pid)
		} else if len(libs) > 0 {
			where = fmt.Sprintf("%s and its %d shared libraries", t.Path, len(libs))
		}
		return nil, fmt.Errorf("%s: %w in %s (list probes with tplist -l)", what, ErrProbeNotFound, where)
	}
	return sites, nil
}

// dedupe drops from libs the target itself and repeated files.
func dedupe(t uprobe.Target, libs []uprobe.Target) []uprobe.Target {
	seen := map[fileID]bool{}
	key := func(x uprobe.Target) (fileID, bool) {
		st, err := statID(x.HostPath)
		return st, err == nil
	}
	if k, ok := key(t); ok {
		seen[k] = true
	}
	var out []uprobe.Target
	for _, l := range libs {
		k, ok := key(l)
		if ok && seen[k] {
			continue
		}
		if ok {
			seen[k] = true
		}
		out = append(out, l)
	}
	return out
}
