package kvm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// VMM is what /proc says about a process's KVM file descriptors.
type VMM struct {
	PID int
	// VMs counts its VM file descriptors (anon_inode:kvm-vm).
	VMs int
	// VCPUs maps vCPU ids to the fd numbers of their vCPU file descriptors
	// (anon_inode:kvm-vcpu:ID).
	VCPUs map[int]int
}

// ReadVMM lists the KVM file descriptors of process pid.
func ReadVMM(pid int) (*VMM, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	v := &VMM{PID: pid, VCPUs: map[int]int{}}
	for _, e := range ents {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		switch {
		case target == "anon_inode:kvm-vm":
			v.VMs++
		case strings.HasPrefix(target, "anon_inode:kvm-vcpu:"):
			id, err := strconv.Atoi(strings.TrimPrefix(target, "anon_inode:kvm-vcpu:"))
			if err == nil {
				if _, dup := v.VCPUs[id]; !dup {
					v.VCPUs[id] = fd
				}
			}
		}
	}
	return v, nil
}

// ErrNotVMM means a process holds no KVM VM.
var ErrNotVMM = errors.New("not a KVM VMM")

// CheckVMM returns an error unless process pid holds a KVM VM or vCPU file
// descriptor.
func CheckVMM(pid int) (*VMM, error) {
	v, err := ReadVMM(pid)
	if err != nil {
		return nil, err
	}
	if v.VMs == 0 && len(v.VCPUs) == 0 {
		return v, fmt.Errorf("pid %d is %w: it has no VM open (no anon_inode:kvm-vm in /proc/%d/fd)", pid, ErrNotVMM, pid)
	}
	return v, nil
}

// Tgid returns the process a thread belongs to.
func Tgid(tid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, fmt.Errorf("tid %d: %w", tid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("tid %d: no Tgid in /proc/%d/status", tid, tid)
}

// FillVCPUFDs writes the VMM's vCPU fds into m, the vcpu_fds map of the
// BPF programs (fd -> vCPU id), so that a KVM_RUN tells which vCPU a thread
// runs.
func (v *VMM) FillVCPUFDs(m *ebpf.Map) error {
	for id, fd := range v.VCPUs {
		if err := m.Put(int32(fd), uint32(id)); err != nil {
			return fmt.Errorf("vcpu_fds: %w", err)
		}
	}
	return nil
}
