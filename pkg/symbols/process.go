package symbols

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// ErrNoProcess means the process does not exist (any more).
var ErrNoProcess = uprobe.ErrNoProcess

// ProcessTable resolves the addresses of one process. It is a snapshot of
// the process's executable mappings, taken by Process or Refresh; the ELF
// files are read when an address first falls into them. Its methods are
// safe for concurrent use.
type ProcessTable struct {
	pid  int
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	starts []uint64 // of maps, sorted
	maps   []procMapping
}

// procMapping is an executable mapping of the process.
type procMapping struct {
	start, end, offset uint64
	module             string // Symbol.Module
	key                moduleKey
	host               string // how to open the file from here; "" if there is none
	lazy               *lazyModule
}

type lazyModule struct {
	once sync.Once
	mod  *elfModule // nil if unreadable
}

// Process reads the memory mappings of process pid. The error wraps
// ErrNoProcess if the process has exited (or has no memory: a kernel
// thread).
func Process(pid int) (*ProcessTable, error) {
	p := &ProcessTable{pid: pid}
	if err := p.Refresh(); err != nil {
		return nil, err
	}
	return p, nil
}

// PID is the process the table resolves addresses of.
func (p *ProcessTable) PID() int { return p.pid }

// Refresh reads the process's mappings again, to see the libraries it has
// loaded since (dlopen). The files already read stay cached.
func (p *ProcessTable) Refresh() error {
	ms, err := uprobe.ReadMappings(p.pid)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return fmt.Errorf("process %d: %w (no memory mappings: exited, or a kernel thread)", p.pid, ErrNoProcess)
	}
	p.snap.Store(newSnapshot(p.pid, ms))
	return nil
}

func newSnapshot(pid int, ms []uprobe.Mapping) *snapshot {
	s := &snapshot{}
	for _, m := range ms {
		if len(m.Perms) < 3 || m.Perms[2] != 'x' || !codeMapping(m.Path) {
			continue
		}
		pm := procMapping{start: m.Start, end: m.End, offset: m.Offset, module: m.Path, lazy: &lazyModule{}}
		switch {
		case m.Path == "[vdso]":
			pm.key, pm.host = moduleKey{path: m.Path}, vdsoHost
		case strings.HasPrefix(m.Path, "/") && m.Inode != 0:
			pm.key = moduleKey{path: m.Path, major: m.Major, minor: m.Minor, inode: m.Inode}
			pm.host = fmt.Sprintf("/proc/%d/root%s", pid, m.Path)
			if m.Deleted {
				pm.module += " (deleted)"
				pm.host = fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End)
			}
		}
		s.maps = append(s.maps, pm)
	}
	// The kernel lists mappings in address order.
	s.starts = make([]uint64, len(s.maps))
	for i := range s.maps {
		s.starts[i] = s.maps[i].start
	}
	return s
}

// codeMapping tells the mappings bcc resolves in: all but anonymous memory,
// the heap, stacks, SysV shared memory and the vsyscall page.
func codeMapping(path string) bool {
	if path == "" {
		return false
	}
	for _, p := range []string{"//anon", "/dev/zero", "/anon_hugepage", "[stack", "/SYSV", "[heap]", "[vsyscall]"} {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// Resolve returns the function holding addr in the process, and true. If
// addr lies in an executable mapping but in no function known to the
// mapped file (stripped, unreadable, not ELF), the Symbol has the Module
// and the offset in its file, and false; outside any executable mapping,
// it has only Offset, addr.
func (p *ProcessTable) Resolve(addr uint64) (Symbol, bool) {
	s := p.snap.Load()
	i, found := slices.BinarySearch(s.starts, addr)
	if !found {
		i--
	}
	if i < 0 || addr >= s.maps[i].end {
		return Symbol{Offset: addr}, false
	}
	pm := &s.maps[i]
	fileOff := addr - pm.start + pm.offset
	if mod := pm.load(); mod != nil {
		if v, ok := mod.vaddr(fileOff); ok {
			if name, off, ok := mod.lookup(v); ok {
				return Symbol{Name: name, Module: pm.module, Offset: off}, true
			}
		}
	}
	return Symbol{Module: pm.module, Offset: fileOff}, false
}

func (pm *procMapping) load() *elfModule {
	pm.lazy.once.Do(func() {
		if pm.host != "" {
			pm.lazy.mod = modules.get(pm.key, pm.host)
		}
	})
	return pm.lazy.mod
}

// moduleKey names a mapped file: its path and, for files, its device and
// inode (a file replaced under the same path is another module).
type moduleKey struct {
	path         string
	major, minor uint32
	inode        uint64
}

// modules caches the function tables of the files mapped by any process.
var modules = moduleCache{m: map[moduleKey]*elfModule{}}

type moduleCache struct {
	mu sync.Mutex
	m  map[moduleKey]*elfModule
}

// vdsoHost stands for this process's vDSO, the same image as every other
// 64-bit process's.
const vdsoHost = "[vdso]"

// get returns the function table of the file, reading it from host on
// first use. A file that is not ELF gets an empty table; one that cannot
// be opened from here (the process exited, no permission) gets nil, not
// cached: another process may map it too.
func (c *moduleCache) get(k moduleKey, host string) *elfModule {
	c.mu.Lock()
	m, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return m
	}
	var err error
	if host == vdsoHost {
		m, err = loadVDSO()
	} else {
		m, err = loadELF(host)
	}
	if err != nil {
		if !errors.Is(err, uprobe.ErrBadELF) {
			return nil
		}
		m = &elfModule{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		return old
	}
	c.m[k] = m
	return m
}

// loadVDSO reads the function table of this process's vDSO from its
// memory.
func loadVDSO() (*elfModule, error) {
	ms, err := uprobe.ReadMappings(os.Getpid())
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Path != "[vdso]" {
			continue
		}
		mem, err := os.Open("/proc/self/mem")
		if err != nil {
			return nil, err
		}
		defer mem.Close()
		b := make([]byte, m.End-m.Start)
		if _, err := mem.ReadAt(b, int64(m.Start)); err != nil {
			return nil, fmt.Errorf("read vdso: %w", err)
		}
		f, err := uprobe.NewELF(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, fmt.Errorf("vdso: %w", err)
		}
		return newELFModule(f)
	}
	return nil, errors.New("no vdso in this process")
}
