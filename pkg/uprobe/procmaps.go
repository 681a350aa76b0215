package uprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End   uint64
	Perms        string
	Offset       uint64
	Major, Minor uint32
	Inode        uint64
	// Path is the mapped file's path in the process's mount namespace, or
	// a pseudo-path such as [heap]; empty for anonymous memory.
	Path string
	// Deleted tells a file deleted since it was mapped.
	Deleted bool
}

// maxMapLines bounds what is read of a maps file (a process has at most
// vm.max_map_count mappings, 65530 by default).
const maxMapLines = 1 << 20

// ReadMappings reads /proc/PID/maps.
func ReadMappings(pid int) ([]Mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
		}
		return nil, err
	}
	defer f.Close()
	ms, err := parseMappings(f)
	if err != nil {
		return nil, fmt.Errorf("/proc/%d/maps: %w", pid, err)
	}
	return ms, nil
}

// ErrNoProcess means there is no process of the given PID.
var ErrNoProcess = errors.New("no such process")

// parseMappings parses the text of a maps file:
//
//	55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234  /usr/bin/cat
func parseMappings(r io.Reader) ([]Mapping, error) {
	var ms []Mapping
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), 1<<16)
	for s.Scan() {
		if len(ms) >= maxMapLines {
			return nil, errors.New("too many mappings")
		}
		line := s.Text()
		m, err := parseMapping(line)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		ms = append(ms, m)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return ms, nil
}

func parseMapping(line string) (Mapping, error) {
	var m Mapping
	// Five fields, then the path, which may contain spaces.
	fields := make([]string, 0, 5)
	rest := line
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		fields = append(fields, rest[:i])
		rest = rest[i:]
	}
	if fields[4] == "" {
		return m, errors.New("want at least 5 fields")
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return m, errors.New("bad address range")
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, err
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return m, err
	}
	if m.End < m.Start {
		return m, errors.New("bad address range")
	}
	m.Perms = fields[1]
	if m.Offset, err = strconv.ParseUint(fields[2], 16, 64); err != nil {
		return m, err
	}
	maj, mnr, ok := strings.Cut(fields[3], ":")
	if !ok {
		return m, errors.New("bad device")
	}
	ma, err := strconv.ParseUint(maj, 16, 32)
	if err != nil {
		return m, err
	}
	mi, err := strconv.ParseUint(mnr, 16, 32)
	if err != nil {
		return m, err
	}
	m.Major, m.Minor = uint32(ma), uint32(mi)
	if m.Inode, err = strconv.ParseUint(fields[4], 10, 64); err != nil {
		return m, err
	}
	m.Path = strings.TrimLeft(rest, " ")
	if p, ok := strings.CutSuffix(m.Path, " (deleted)"); ok && m.Inode != 0 {
		m.Path, m.Deleted = p, true
	}
	return m, nil
}

// fileBacked tells a mapping of a file (not anonymous memory, the heap,
// the stack or the vDSO).
func (m Mapping) fileBacked() bool {
	return m.Inode != 0 && strings.HasPrefix(m.Path, "/")
}

// Modules returns the files process pid has mapped that are ELF objects
// (its executable and its shared libraries, including those loaded with
// dlopen), each once, in address order. Their HostPath opens them from
// this process: through /proc/PID/root, or through /proc/PID/map_files
// for a file deleted since it was mapped.
func Modules(pid int) ([]Target, error) {
	ms, err := ReadMappings(pid)
	if err != nil {
		return nil, err
	}
	type key struct {
		major, minor uint32
		inode        uint64
	}
	seen := map[key]bool{}
	var out []Target
	for _, m := range ms {
		k := key{m.Major, m.Minor, m.Inode}
		if !m.fileBacked() || seen[k] {
			continue
		}
		seen[k] = true
		host := fmt.Sprintf("/proc/%d/root%s", pid, m.Path)
		if m.Deleted {
			host = fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End)
		}
		if !isELF(host, elfTypes...) {
			continue
		}
		out = append(out, Target{Path: m.Path, HostPath: host, PID: pid})
	}
	return out, nil
}

// sameFile tells whether mapping m maps the file t names.
func sameFile(m Mapping, t Target, st *unix.Stat_t) bool {
	if !m.fileBacked() {
		return false
	}
	if st != nil && m.Inode == st.Ino && m.Major == unix.Major(st.Dev) && m.Minor == unix.Minor(st.Dev) {
		return true
	}
	return m.Path == t.Path
}

// RuntimeAddress returns the virtual address at which process pid has
// the byte at fileOffset of t mapped, or an error if it has not mapped it.
func RuntimeAddress(ms []Mapping, t Target, fileOffset uint64) (uint64, error) {
	var st unix.Stat_t
	stp := &st
	if err := unix.Stat(t.HostPath, &st); err != nil {
		stp = nil
	}
	for _, m := range ms {
		if !sameFile(m, t, stp) {
			continue
		}
		if m.Offset <= fileOffset && fileOffset-m.Offset < m.End-m.Start {
			return m.Start + fileOffset - m.Offset, nil
		}
	}
	return 0, fmt.Errorf("%s offset %#x: not mapped by process %d", t.Path, fileOffset, t.PID)
}
