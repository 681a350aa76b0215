package uprobe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// ErrLibraryNotFound means no library of the given name was found where the
// dynamic linker looks.
var ErrLibraryNotFound = errors.New("library not found")

// defaultLibDirs are the dynamic linker's trusted directories on x86-64:
// Debian's multiarch ones first, then those of other distributions.
var defaultLibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64",
	"/lib", "/usr/lib",
}

// maxLDCacheSize bounds what is read of ld.so.cache (glibc's is ~100 KiB
// for thousands of libraries).
const maxLDCacheSize = 64 << 20

// libSearch finds libraries as the dynamic linker of one mount namespace
// does: in LD_LIBRARY_PATH, then ld.so.cache, then the default directories,
// with the DT_RPATH and DT_RUNPATH of the object that needs them.
type libSearch struct {
	// root is prefixed to every path to open it from this process: ""
	// for our own mount namespace, "/proc/PID/root" for another's.
	root string
	// ldLibraryPath is the LD_LIBRARY_PATH of the process in question.
	ldLibraryPath string

	cacheRead bool
	cache     []ldCacheEntry
	cacheErr  error
}

// newLibSearch returns the search of process pid (0: this process).
func newLibSearch(pid int) *libSearch {
	if pid == 0 {
		return &libSearch{ldLibraryPath: os.Getenv("LD_LIBRARY_PATH")}
	}
	env := processEnv(pid)
	return &libSearch{root: fmt.Sprintf("/proc/%d/root", pid), ldLibraryPath: env["LD_LIBRARY_PATH"]}
}

// processEnv reads the environment of process pid; a process whose
// environment cannot be read gets an empty one.
func processEnv(pid int) map[string]string {
	env := map[string]string{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return env
	}
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
			env[string(k)] = string(v)
		}
	}
	return env
}

func (s *libSearch) host(p string) string { return s.root + p }

// ldCache returns the x86-64 entries of the namespace's ld.so.cache.
func (s *libSearch) ldCache() ([]ldCacheEntry, error) {
	if s.cacheRead {
		return s.cache, s.cacheErr
	}
	s.cacheRead = true
	f, err := os.Open(s.host("/etc/ld.so.cache"))
	if err != nil {
		s.cacheErr = err
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLDCacheSize))
	if err != nil {
		s.cacheErr = err
		return nil, err
	}
	all, err := parseLDCache(data)
	if err != nil {
		s.cacheErr = fmt.Errorf("/etc/ld.so.cache: %w", err)
		return nil, s.cacheErr
	}
	for _, e := range all {
		if ldCacheX8664(e.Flags) {
			s.cache = append(s.cache, e)
		}
	}
	return s.cache, nil
}

// libMatcher tells whether a file name is the library asked for: a file
// name such as "libc.so.6" matches itself; a short name such as "c"
// matches "libc.so" and "libc.so.*", as bcc's "c:malloc" does.
type libMatcher struct {
	exact  string
	prefix string
}

func newLibMatcher(name string) libMatcher {
	if strings.Contains(name, ".so") || strings.HasPrefix(name, "ld-") {
		return libMatcher{exact: name}
	}
	return libMatcher{prefix: "lib" + name + ".so"}
}

func (m libMatcher) match(file string) bool {
	if m.exact != "" {
		return file == m.exact
	}
	rest, ok := strings.CutPrefix(file, m.prefix)
	return ok && (rest == "" || rest[0] == '.')
}

// better orders candidate names: the shortest (libc.so.6 before
// libc.so.6.0.1), then alphabetically.
func better(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// find returns the path (in the namespace) of library name needed by an
// object with the given DT_RPATH, DT_RUNPATH and directory ($ORIGIN), and
// the places it looked.
func (s *libSearch) find(name string, rpath, runpath []string, origin string) (string, error) {
	m := newLibMatcher(name)
	var searched []string
	tryDirs := func(what string, dirs []string) string {
		for _, d := range dirs {
			d = expandOrigin(d, origin)
			if d == "" {
				continue
			}
			if p := s.inDir(d, m); p != "" {
				return p
			}
		}
		if len(dirs) > 0 {
			searched = append(searched, what)
		}
		return ""
	}
	if len(runpath) == 0 {
		if p := tryDirs("DT_RPATH", rpath); p != "" {
			return p, nil
		}
	}
	var llp []string
	if s.ldLibraryPath != "" {
		llp = strings.Split(s.ldLibraryPath, ":")
	}
	if p := tryDirs("LD_LIBRARY_PATH", llp); p != "" {
		return p, nil
	}
	if p := tryDirs("DT_RUNPATH", runpath); p != "" {
		return p, nil
	}
	if p := s.inCache(m); p != "" {
		return p, nil
	}
	searched = append(searched, "/etc/ld.so.cache")
	if p := tryDirs(strings.Join(defaultLibDirs, ", "), defaultLibDirs); p != "" {
		return p, nil
	}
	e := &libNotFoundError{name: name, want: name, searched: strings.Join(searched, ", ")}
	if m.prefix != "" {
		e.want = m.prefix + "*"
	}
	if s.root != "" {
		e.where = " of process " + strings.TrimSuffix(strings.TrimPrefix(s.root, "/proc/"), "/root")
	}
	return "", e
}

// libNotFoundError says where a library was looked for.
type libNotFoundError struct {
	name, want, searched, where string
}

func (e *libNotFoundError) Error() string {
	return fmt.Sprintf("%s: %v (looked for %s in %s%s)", e.name, ErrLibraryNotFound, e.want, e.searched, e.where)
}

func (e *libNotFoundError) Unwrap() error { return ErrLibraryNotFound }

func expandOrigin(dir, origin string) string {
	if strings.Contains(dir, "$ORIGIN") || strings.Contains(dir, "${ORIGIN}") {
		if origin == "" {
			return ""
		}
		dir = strings.ReplaceAll(dir, "${ORIGIN}", origin)
		dir = strings.ReplaceAll(dir, "$ORIGIN", origin)
	}
	return dir
}

// inCache looks the library up in ld.so.cache, preferring entries without
// a hardware capability subdirectory.
func (s *libSearch) inCache(m libMatcher) string {
	cache, err := s.ldCache()
	if err != nil {
		return ""
	}
	var best *ldCacheEntry
	for i := range cache {
		e := &cache[i]
		if !m.match(e.Name) {
			continue
		}
		if best == nil || (best.HWCap != 0 && e.HWCap == 0) || (best.HWCap == e.HWCap && better(e.Name, best.Name) < 0) {
			best = e
		}
	}
	if best == nil || !s.isLibrary(best.Path) {
		return ""
	}
	return best.Path
}

// inDir looks for the library in one directory.
func (s *libSearch) inDir(dir string, m libMatcher) string {
	if !path.IsAbs(dir) {
		return ""
	}
	if m.exact != "" {
		p := path.Join(dir, m.exact)
		if s.isLibrary(p) {
			return p
		}
		return ""
	}
	ents, err := os.ReadDir(s.host(dir))
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range ents {
		if m.match(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, better)
	for _, n := range names {
		if p := path.Join(dir, n); s.isLibrary(p) {
			return p
		}
	}
	return ""
}

// isLibrary tells whether p (in the namespace) is a 64-bit x86 ELF shared
// object: not a linker script such as glibc's libc.so, not a 32-bit
// library.
func (s *libSearch) isLibrary(p string) bool {
	return isELF(s.host(p), elf.ET_DYN)
}

// isELF tells whether the file at p is a little-endian 64-bit x86 ELF file
// of one of the given types.
func isELF(p string, types ...elf.Type) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false
	}
	if string(h[:4]) != elf.ELFMAG || elf.Class(h[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(h[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return false
	}
	t := elf.Type(binary.LittleEndian.Uint16(h[16:]))
	m := elf.Machine(binary.LittleEndian.Uint16(h[18:]))
	return m == elf.EM_X86_64 && slices.Contains(types, t)
}

// dynamicDeps returns an object's DT_NEEDED, DT_RPATH and DT_RUNPATH.
func dynamicDeps(f *File) (needed, rpath, runpath []string, err error) {
	if err := f.checkReadable(elf.SHT_DYNAMIC); err != nil {
		return nil, nil, nil, err
	}
	get := func(tag elf.DynTag) ([]string, error) {
		return safe(func() ([]string, error) { return f.DynString(tag) })
	}
	if needed, err = get(elf.DT_NEEDED); err != nil {
		return nil, nil, nil, err
	}
	var rp, rup []string
	if rp, err = get(elf.DT_RPATH); err != nil {
		return nil, nil, nil, err
	}
	if rup, err = get(elf.DT_RUNPATH); err != nil {
		return nil, nil, nil, err
	}
	for _, r := range rp {
		rpath = append(rpath, strings.Split(r, ":")...)
	}
	for _, r := range rup {
		runpath = append(runpath, strings.Split(r, ":")...)
	}
	return needed, rpath, runpath, nil
}

// maxLibraries bounds the shared libraries followed from one binary.
const maxLibraries = 1024

// SharedLibraries returns the shared libraries t needs, directly or not
// (its DT_NEEDED entries, found as the dynamic linker would find them in
// t's mount namespace), in breadth-first order. Libraries that cannot be
// found are left out, as are those loaded with dlopen: ask a running
// process (Modules) for those.
func SharedLibraries(t Target) ([]Target, error) {
	s := newLibSearch(t.PID)
	start := t.Path
	if !path.IsAbs(start) && t.PID == 0 {
		// $ORIGIN is an absolute directory.
		start = t.HostPath
	}
	seen := map[string]bool{start: true}
	var out []Target
	queue := []string{start}
	first := true
	for len(queue) > 0 && len(out) < maxLibraries {
		p := queue[0]
		queue = queue[1:]
		hostPath := s.host(p)
		if first {
			hostPath, first = t.HostPath, false
		}
		f, err := OpenELF(hostPath)
		if err != nil {
			if p == start {
				return nil, err
			}
			continue
		}
		needed, rpath, runpath, err := dynamicDeps(f)
		f.Close()
		if err != nil {
			if p == start {
				return nil, fmt.Errorf("%s: %w", t.Path, err)
			}
			continue
		}
		for _, n := range needed {
			lp, err := s.find(n, rpath, runpath, path.Dir(p))
			if err != nil || seen[lp] {
				continue
			}
			seen[lp] = true
			out = append(out, Target{Path: lp, HostPath: s.host(lp), PID: t.PID})
			queue = append(queue, lp)
		}
	}
	return out, nil
}
