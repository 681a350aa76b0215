// Package kvm is what kvmexit and kvmtrace share: the layout of the kvm
// tracepoints read from the running kernel's tracefs format files, the exit
// reason names taken from kvm_exit's own __print_symbolic tables (VMX or
// SVM, chosen by the isa field) with built-in tables as fallback, the names
// of the exits to userspace, and checks that a process is a KVM VMM.
package kvm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Field is one field of a tracepoint's record, from its format file.
type Field struct {
	Name   string
	Type   string // C type as written, without the name
	Offset int
	Size   int
	Signed bool
}

// Format is a tracepoint's format file: its record layout and print fmt.
type Format struct {
	Name     string
	ID       int
	Fields   []Field // common fields first
	PrintFmt string  // text after "print fmt: "
}

// Field returns the field called name.
func (f *Format) Field(name string) (Field, bool) {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl, true
		}
	}
	return Field{}, false
}

// ParseFormat parses a tracefs events/GROUP/NAME/format file.
func ParseFormat(r io.Reader) (*Format, error) {
	f := &Format{ID: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line == "format:":
		case strings.HasPrefix(line, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(line, "name:"))
		case strings.HasPrefix(line, "ID:"):
			id, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ID:")))
			if err != nil {
				return nil, fmt.Errorf("bad ID line %q", line)
			}
			f.ID = id
		case strings.HasPrefix(line, "field:"):
			fl, err := parseField(line)
			if err != nil {
				return nil, err
			}
			f.Fields = append(f.Fields, fl)
		case strings.HasPrefix(line, "print fmt:"):
			f.PrintFmt = strings.TrimSpace(strings.TrimPrefix(line, "print fmt:"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read format: %w", err)
	}
	if f.Name == "" || len(f.Fields) == 0 {
		return nil, errors.New("not a tracepoint format file (no name or no fields)")
	}
	return f, nil
}

// parseField parses "field:unsigned int vcpu_id;	offset:56;	size:4;	signed:0;".
func parseField(line string) (Field, error) {
	var fl Field
	parts := strings.Split(line, ";")
	decl, ok := strings.CutPrefix(strings.TrimSpace(parts[0]), "field:")
	if !ok {
		return fl, fmt.Errorf("bad field line %q", line)
	}
	decl = strings.TrimSpace(decl)
	// The name is the last identifier, before an array suffix if the
	// declaration ends with one ("char comm[16]"); "__data_loc char[] name"
	// has its brackets in the type.
	base, suffix := decl, ""
	if strings.HasSuffix(decl, "]") {
		if i := strings.LastIndexByte(decl, '['); i >= 0 {
			base, suffix = strings.TrimSpace(decl[:i]), decl[i:]
		}
	}
	i := strings.LastIndexFunc(base, func(r rune) bool { return !isIdentRune(r) })
	fl.Name = base[i+1:]
	if fl.Name == "" || fl.Name[0] >= '0' && fl.Name[0] <= '9' {
		return fl, fmt.Errorf("bad field declaration %q", decl)
	}
	fl.Type = strings.TrimSpace(base[:i+1]) + suffix
	seen := 0
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fl, fmt.Errorf("field %s: bad %s %q", fl.Name, k, v)
		}
		switch k {
		case "offset":
			fl.Offset = n
			seen |= 1
		case "size":
			fl.Size = n
			seen |= 2
		case "signed":
			fl.Signed = n != 0
		}
	}
	if seen != 3 || fl.Offset < 0 || fl.Size <= 0 {
		return fl, fmt.Errorf("field %s: no valid offset and size in %q", fl.Name, line)
	}
	return fl, nil
}

func isIdentRune(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// tracefsDirs are where tracefs is usually mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// ErrNoTracefs means tracefs is not mounted where the kernel puts it.
var ErrNoTracefs = errors.New("tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)")

// ErrNoKVMTracepoints means the kernel has no kvm tracepoints: KVM is not
// loaded.
var ErrNoKVMTracepoints = errors.New("no kvm tracepoints in tracefs: is the kvm module loaded? (modprobe kvm-intel or kvm-amd)")

// Tracefs returns the directory tracefs is mounted on.
func Tracefs() (string, error) {
	for _, d := range tracefsDirs {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoTracefs
}

// ReadFormat reads and parses the format of tracepoint group:name.
func ReadFormat(group, name string) (*Format, error) {
	dir, err := Tracefs()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "events", group, name, "format"))
	if errors.Is(err, os.ErrNotExist) {
		if ents, _ := os.ReadDir(filepath.Join(dir, "events", group)); group == "kvm" && len(ents) == 0 {
			return nil, ErrNoKVMTracepoints
		}
		return nil, fmt.Errorf("tracepoint %s:%s: not in this kernel", group, name)
	}
	if err != nil {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", group, name, err)
	}
	defer f.Close()
	format, err := ParseFormat(f)
	if err != nil {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", group, name, err)
	}
	return format, nil
}
