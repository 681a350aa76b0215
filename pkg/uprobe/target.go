package uprobe

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrTargetNotFound means a target names no file, library or executable.
var ErrTargetNotFound = errors.New("target not found")

// elfTypes are the ELF files uprobes go into: executables (PIE or not) and
// shared libraries.
var elfTypes = []elf.Type{elf.ET_EXEC, elf.ET_DYN}

// Target is a binary to put uprobes into.
type Target struct {
	// Path is the file's path in its mount namespace (that of PID if
	// set), as /proc/PID/maps shows it: what to print.
	Path string
	// HostPath opens the same file from this process: Path itself, or
	// Path under /proc/PID/root for a process in another mount
	// namespace. It is what uprobes are attached to.
	HostPath string
	// PID is the process the target was looked up for, or 0.
	PID int
}

// FindTarget resolves what a user wrote for a uprobe's binary, as bcc
// does:
//
//   - a path ("/usr/bin/bash", "./a.out"); with pid, inside the process's
//     mount namespace, through /proc/PID/root;
//   - a library name: "c" finds libc.so.6 and "pthread" libpthread.so.0,
//     "libc.so.6" is taken as it is; with pid, first among the libraries
//     the process has loaded, then as its dynamic linker would find it:
//     LD_LIBRARY_PATH, /etc/ld.so.cache, then the default directories;
//   - the name of an executable in PATH ("bash");
//   - "" with pid: the process's executable.
func FindTarget(name string, pid int) (Target, error) {
	if pid < 0 {
		return Target{}, fmt.Errorf("pid %d: want a positive number", pid)
	}
	if pid > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return Target{}, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
		}
	}
	switch {
	case name == "" && pid == 0:
		return Target{}, fmt.Errorf("%w: no binary named (give a path, a library or -p PID)", ErrTargetNotFound)
	case name == "":
		exe := fmt.Sprintf("/proc/%d/exe", pid)
		p, err := os.Readlink(exe)
		if err != nil {
			return Target{}, fmt.Errorf("process %d: %w", pid, err)
		}
		return Target{Path: strings.TrimSuffix(p, " (deleted)"), HostPath: exe, PID: pid}, nil
	case strings.Contains(name, "/"):
		return pathTarget(name, pid)
	}

	if pid > 0 {
		if t, ok := loadedLibrary(name, pid); ok {
			return t, nil
		}
	}
	s := newLibSearch(pid)
	p, libErr := s.find(name, nil, nil, "")
	if libErr == nil {
		return Target{Path: p, HostPath: s.host(p), PID: pid}, nil
	}
	if t, ok := inPATH(name, pid); ok {
		return t, nil
	}
	var nf *libNotFoundError
	if errors.As(libErr, &nf) {
		return Target{}, fmt.Errorf("%s: %w: no library %s (looked in %s%s) and no executable %s in PATH", name, ErrTargetNotFound, nf.want, nf.searched, nf.where, name)
	}
	return Target{}, fmt.Errorf("%s: %w: %w", name, ErrTargetNotFound, libErr)
}

// pathTarget resolves a path, relative ones against the working directory
// (the process's with pid).
func pathTarget(name string, pid int) (Target, error) {
	t := Target{PID: pid}
	if pid == 0 {
		// Shown as given, as bcc does; opened by its absolute path.
		abs, err := filepath.Abs(name)
		if err != nil {
			return t, err
		}
		t.Path, t.HostPath = name, abs
	} else {
		p := name
		if !path.IsAbs(p) {
			cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
			if err != nil {
				return t, fmt.Errorf("process %d: %w", pid, err)
			}
			p = path.Join(cwd, p)
		}
		t.Path, t.HostPath = path.Clean(p), fmt.Sprintf("/proc/%d/root%s", pid, path.Clean(p))
	}
	st, err := os.Stat(t.HostPath)
	if errors.Is(err, fs.ErrNotExist) {
		where := ""
		if pid > 0 {
			where = fmt.Sprintf(" in the mount namespace of process %d", pid)
		}
		return t, fmt.Errorf("%s: %w: no such file%s", name, ErrTargetNotFound, where)
	}
	if err != nil {
		return t, fmt.Errorf("%s: %w: %w", name, ErrTargetNotFound, err)
	}
	if !st.Mode().IsRegular() {
		return t, fmt.Errorf("%s: %w: not a regular file", name, ErrTargetNotFound)
	}
	return t, nil
}

// loadedLibrary finds a library among those process pid has mapped.
func loadedLibrary(name string, pid int) (Target, bool) {
	mods, err := Modules(pid)
	if err != nil {
		return Target{}, false
	}
	m := newLibMatcher(name)
	var best *Target
	for i, t := range mods {
		base := path.Base(t.Path)
		// Old glibc names its libraries libc-2.31.so.
		if !m.match(base) && !(m.prefix != "" && strings.HasPrefix(base, strings.TrimSuffix(m.prefix, ".so")+"-") && strings.HasSuffix(base, ".so")) {
			continue
		}
		if best == nil || better(base, path.Base(best.Path)) < 0 {
			best = &mods[i]
		}
	}
	if best == nil {
		return Target{}, false
	}
	return *best, true
}

// inPATH looks for an executable in PATH (the process's, with pid).
func inPATH(name string, pid int) (Target, bool) {
	pathEnv, root := os.Getenv("PATH"), ""
	if pid > 0 {
		pathEnv, root = processEnv(pid)["PATH"], fmt.Sprintf("/proc/%d/root", pid)
	}
	for _, d := range strings.Split(pathEnv, ":") {
		if !path.IsAbs(d) {
			continue
		}
		p := path.Join(d, name)
		st, err := os.Stat(root + p)
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			continue
		}
		if !isELF(root+p, elfTypes...) {
			continue
		}
		return Target{Path: p, HostPath: root + p, PID: pid}, true
	}
	return Target{}, false
}

// Open opens the target's ELF file.
func (t Target) Open() (*File, error) {
	f, err := openELF(t.HostPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	f.Path = t.Path
	return f, nil
}
