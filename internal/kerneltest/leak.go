package kerneltest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// BPFObjects are the BPF programs and links a process holds.
type BPFObjects struct {
	Programs []ebpf.ProgramID
	Links    []link.ID
	Perf     int // perf event fds (kprobes, uprobes, tracepoints)
}

// HeldBy lists the BPF programs and links process pid holds open, from
// /proc/PID/fdinfo.
func HeldBy(pid int) (BPFObjects, error) {
	var objs BPFObjects
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return objs, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		switch target {
		case "anon_inode:bpf-prog", "anon_inode:bpf_link":
		case "anon_inode:[perf_event]":
			objs.Perf++
			continue
		default:
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch {
			case k == "prog_id" && target == "anon_inode:bpf-prog":
				objs.Programs = append(objs.Programs, ebpf.ProgramID(n))
			case k == "link_id":
				objs.Links = append(objs.Links, link.ID(n))
			}
		}
		f.Close()
	}
	return objs, nil
}

// AssertReleased fails the test if any of objs still exists in the kernel.
func AssertReleased(t testing.TB, objs BPFObjects) {
	t.Helper()
	for _, id := range objs.Programs {
		p, err := ebpf.NewProgramFromID(id)
		if err == nil {
			p.Close()
			t.Errorf("program %d still loaded after the tool exited", id)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("program %d: %v", id, err)
		}
	}
	for _, id := range objs.Links {
		l, err := link.NewFromID(id)
		if err == nil {
			l.Close()
			t.Errorf("link %d still attached after the tool exited", id)
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("link %d: %v", id, err)
		}
	}
}
