// Package kvmguest runs a tiny KVM guest with a known number of exits, for
// testing the KVM tools: a few bytes of 16-bit real-mode code that write to
// an I/O port a set number of times and then halt, in a loop, on one or
// more vCPUs. It uses the KVM ioctls directly (no in-kernel irqchip, no
// devices), so every OUT and every HLT exits to this process as KVM_EXIT_IO
// and KVM_EXIT_HLT, and it counts them itself.
//
// The guest code, at guest physical address CodeAddr with CS base 0:
//
//	0x1000  89 d9   start: mov cx, bx      ; BX = OUTs per iteration
//	0x1002  ee      l1:    out dx, al      ; DX = port, AL = vCPU id
//	0x1003  e2 fd          loop l1
//	0x1005  f4             hlt
//	0x1006  eb f8          jmp start
//
// The host stops a vCPU after its Iterations-th HLT exit. With Hypercalls,
// the jmp at 0x1006 goes to 0x1010 instead, where each iteration also makes
// a KVM hypercall (KVM_HC_VAPIC_POLL_IRQ, which KVM handles in the kernel)
// before going back to start:
//
//	0x1006  eb 08          jmp 0x1010
//	0x1010  66 b8 01 00 00 00   mov eax, 1
//	0x1016  0f 01 c1       vmcall (Intel) or 0f 01 d9 vmmcall (AMD)
//	0x1019  eb e5          jmp start
package kvmguest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Guest addresses, for checking guest RIPs in traces (CS base is 0, so RIP
// is the linear address).
const (
	CodeAddr     = 0x1000 // start of the loop
	OutRIP       = 0x1002 // the OUT instruction
	HLTRIP       = 0x1005 // the HLT instruction
	HypercallRIP = 0x1016 // the VMCALL or VMMCALL instruction (Hypercalls)
)

// HypercallNr is the hypercall the guest makes: KVM_HC_VAPIC_POLL_IRQ,
// which KVM answers with 0 without leaving the kernel.
const HypercallNr = 1

// code is the guest program (see the package comment).
var code = []byte{0x89, 0xd9, 0xee, 0xe2, 0xfd, 0xf4, 0xeb, 0xf8}

// hypercallCode is the hypercall tail at 0x1010, for Intel; AMD's VMMCALL
// differs in its last byte.
var hypercallCode = []byte{0x66, 0xb8, HypercallNr, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xc1, 0xeb, 0xe5}

// memSize is the guest's memory: one slot at guest physical address 0.
const memSize = 0x10000

// DefaultPort is the first vCPU's I/O port; vCPU i writes to DefaultPort+i.
// No KVM device claims it, so each OUT exits to userspace.
const DefaultPort = 0xe9

// Config is the shape of a guest run.
type Config struct {
	VCPUs      int    // vCPUs (default 1)
	Outs       int    // OUT instructions per iteration, 1-65535 (default 3)
	Iterations int    // iterations, each ending in a HLT exit (default 1)
	Port       uint16 // port of vCPU 0; vCPU i uses Port+i (default DefaultPort)
	// Hypercalls makes each iteration end with a hypercall (VMCALL or
	// VMMCALL, after the host CPU's vendor), handled by KVM in the kernel.
	Hypercalls bool
}

func (c *Config) fill() error {
	if c.VCPUs == 0 {
		c.VCPUs = 1
	}
	if c.Outs == 0 {
		c.Outs = 3
	}
	if c.Iterations == 0 {
		c.Iterations = 1
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	switch {
	case c.VCPUs < 1 || c.VCPUs > 64:
		return fmt.Errorf("vcpus %d: want 1-64", c.VCPUs)
	case c.Outs < 1 || c.Outs > 0xffff:
		return fmt.Errorf("outs %d: want 1-65535", c.Outs)
	case c.Iterations < 1:
		return fmt.Errorf("iterations %d: want at least 1", c.Iterations)
	case int(c.Port)+c.VCPUs-1 > 0xffff:
		return fmt.Errorf("port %#x: vCPU ports would pass 0xffff", c.Port)
	case c.Port <= 0x7e && int(c.Port)+c.VCPUs-1 >= 0x7e:
		// KVM treats OUT 0x7e specially (it advances RIP before the exit).
		return fmt.Errorf("port %#x: the vCPU ports must not include 0x7e", c.Port)
	}
	return nil
}

// VCPU is what one vCPU did.
type VCPU struct {
	ID   int    // vCPU id (KVM_CREATE_VCPU), the tracepoints' vcpu_id
	TID  int    // thread that ran it
	Port uint16 // port it wrote to
	// IO counts KVM_EXIT_IO exits for an OUT of one byte to Port, HLT the
	// KVM_EXIT_HLT exits.
	IO, HLT int
	// Exits counts every exit to userspace by kvm_run.exit_reason,
	// including IO and HLT.
	Exits map[uint32]int
}

// Result is what a guest run did.
type Result struct {
	PID   int
	VCPUs []VCPU
}

// Exits returns the exits of reason over all vCPUs.
func (r *Result) Exits(reason uint32) int {
	n := 0
	for _, v := range r.VCPUs {
		n += v.Exits[reason]
	}
	return n
}

// Guest is a VM with its vCPU threads started and waiting for Run.
type Guest struct {
	cfg   Config
	kvm   int
	vm    int
	mem   []byte
	vcpus []*vcpu

	start    chan struct{}
	quit     chan struct{}
	done     sync.WaitGroup
	runOnce  sync.Once
	closeMu  sync.Mutex
	closed   bool
	released bool
}

type vcpu struct {
	VCPU
	fd  int
	run []byte
	err error
}

// Available reports whether /dev/kvm can be opened for creating VMs: nil
// if it can, else the reason.
func Available() error {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kvm: %w", err)
	}
	defer unix.Close(fd)
	v, err := ioctl(fd, kvmGetAPIVersion, 0)
	if err != nil {
		return fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("KVM API version %d, want %d", v, kvmAPIVersion)
	}
	return nil
}

// New creates the VM and its vCPUs, each on its own locked OS thread, and
// returns with the threads waiting for Run; their TIDs are known then.
func New(cfg Config) (_ *Guest, err error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	g := &Guest{cfg: cfg, kvm: -1, vm: -1, start: make(chan struct{}), quit: make(chan struct{})}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if g.kvm, err = unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open /dev/kvm: %w", err)
	}
	if v, err := ioctl(g.kvm, kvmGetAPIVersion, 0); err != nil || v != kvmAPIVersion {
		return nil, fmt.Errorf("KVM_GET_API_VERSION: %d, %v (want %d)", v, err, kvmAPIVersion)
	}
	vm, err := ioctl(g.kvm, kvmCreateVM, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	g.vm = int(vm)
	unix.CloseOnExec(g.vm)

	g.mem, err = unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap guest memory: %w", err)
	}
	copy(g.mem[CodeAddr:], code)
	if cfg.Hypercalls {
		g.mem[CodeAddr+7] = 0x08 // jmp 0x1010
		copy(g.mem[CodeAddr+0x10:], hypercallCode)
		if amd, err := isAMD(); err != nil {
			return nil, err
		} else if amd {
			g.mem[HypercallRIP+2] = 0xd9 // vmmcall
		}
	}
	region := userspaceMemoryRegion{MemorySize: memSize, UserspaceAddr: uint64(uintptr(unsafe.Pointer(&g.mem[0])))}
	if err := ioctlPtr(g.vm, kvmSetUserMemoryRegion, &region); err != nil {
		return nil, fmt.Errorf("KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	mmapSize, err := ioctl(g.kvm, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}

	for id := range cfg.VCPUs {
		v, err := g.newVCPU(id, int(mmapSize))
		if err != nil {
			return nil, fmt.Errorf("vcpu %d: %w", id, err)
		}
		g.vcpus = append(g.vcpus, v)
	}
	tids := make(chan int)
	for _, v := range g.vcpus {
		g.done.Add(1)
		go g.thread(v, tids)
		v.TID = <-tids
	}
	return g, nil
}

func (g *Guest) newVCPU(id, mmapSize int) (*vcpu, error) {
	v := &vcpu{VCPU: VCPU{ID: id, Port: g.cfg.Port + uint16(id), Exits: map[uint32]int{}}, fd: -1}
	fd, err := ioctl(g.vm, kvmCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	v.fd = int(fd)
	unix.CloseOnExec(v.fd)
	if v.run, err = unix.Mmap(v.fd, 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		unix.Close(v.fd)
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	var s sregs
	if err := ioctlPtr(v.fd, kvmGetSregs, &s); err != nil {
		v.close()
		return nil, fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	s.CS.Base, s.CS.Selector = 0, 0
	if err := ioctlPtr(v.fd, kvmSetSregs, &s); err != nil {
		v.close()
		return nil, fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	r := regs{RIP: CodeAddr, RFLAGS: 2, RAX: uint64(id), RBX: uint64(g.cfg.Outs), RDX: uint64(v.Port)}
	if err := ioctlPtr(v.fd, kvmSetRegs, &r); err != nil {
		v.close()
		return nil, fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	return v, nil
}

func (v *vcpu) close() {
	if v.run != nil {
		unix.Munmap(v.run)
		v.run = nil
	}
	if v.fd >= 0 {
		unix.Close(v.fd)
		v.fd = -1
	}
}

// thread runs one vCPU on a locked OS thread, which dies with it: the TID
// is never reused for other goroutines.
func (g *Guest) thread(v *vcpu, tids chan<- int) {
	defer g.done.Done()
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	tids <- unix.Gettid()
	select {
	case <-g.start:
	case <-g.quit:
		return
	}
	v.err = g.runVCPU(v)
}

func (g *Guest) runVCPU(v *vcpu) error {
	kr := (*run)(unsafe.Pointer(&v.run[0]))
	for v.HLT < g.cfg.Iterations {
		if _, err := ioctl(v.fd, kvmRun, 0); err != nil {
			return fmt.Errorf("vcpu %d: KVM_RUN: %w", v.ID, err)
		}
		reason := kr.ExitReason
		v.Exits[reason]++
		switch reason {
		case ExitIO:
			if kr.IODirection != ioOut || kr.IOPort != v.Port || kr.IOSize != 1 || kr.IOCount != 1 {
				return fmt.Errorf("vcpu %d: unexpected KVM_EXIT_IO: direction %d port %#x size %d count %d",
					v.ID, kr.IODirection, kr.IOPort, kr.IOSize, kr.IOCount)
			}
			v.IO++
		case ExitHLT:
			v.HLT++
		case ExitIntr:
			// A signal interrupted KVM_RUN; run again.
		default:
			var r regs
			ioctlPtr(v.fd, kvmGetRegs, &r)
			return fmt.Errorf("vcpu %d: unexpected exit %s at rip %#x", v.ID, ExitName(reason), r.RIP)
		}
	}
	return nil
}

// Run lets the vCPUs go and waits until each has done its iterations. It
// may be called once.
func (g *Guest) Run() (*Result, error) {
	ran := false
	g.runOnce.Do(func() {
		ran = true
		g.closeMu.Lock()
		g.released = true
		g.closeMu.Unlock()
		close(g.start)
	})
	if !ran {
		return nil, errors.New("guest already ran")
	}
	g.done.Wait()
	res := &Result{PID: os.Getpid()}
	var errs []error
	for _, v := range g.vcpus {
		res.VCPUs = append(res.VCPUs, v.VCPU)
		errs = append(errs, v.err)
	}
	return res, errors.Join(errs...)
}

// TIDs returns the thread ids of the vCPUs, in vCPU order.
func (g *Guest) TIDs() []int {
	tids := make([]int, len(g.vcpus))
	for i, v := range g.vcpus {
		tids[i] = v.TID
	}
	return tids
}

// Config returns the guest's configuration, defaults filled in.
func (g *Guest) Config() Config { return g.cfg }

// Close frees the VM. Threads still waiting for Run are let go first.
func (g *Guest) Close() error {
	g.closeMu.Lock()
	if g.closed {
		g.closeMu.Unlock()
		return nil
	}
	g.closed = true
	if !g.released {
		close(g.quit)
	}
	g.closeMu.Unlock()
	g.done.Wait()
	for _, v := range g.vcpus {
		v.close()
	}
	if g.mem != nil {
		unix.Munmap(g.mem)
		g.mem = nil
	}
	if g.vm >= 0 {
		unix.Close(g.vm)
	}
	if g.kvm >= 0 {
		unix.Close(g.kvm)
	}
	return nil
}

// isAMD tells AMD (and Hygon) CPUs, which have VMMCALL, from Intel's, which
// have VMCALL.
func isAMD() (bool, error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false, fmt.Errorf("cpu vendor: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "vendor_id" {
			v = strings.TrimSpace(v)
			return v == "AuthenticAMD" || v == "HygonGenuine", nil
		}
	}
	return false, errors.New("cpu vendor: no vendor_id in /proc/cpuinfo")
}

// Run creates a guest, runs it and frees it.
func Run(cfg Config) (*Result, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	return g.Run()
}

var exitNames = map[uint32]string{
	ExitUnknown: "UNKNOWN", ExitException: "EXCEPTION", ExitIO: "IO", ExitHypercall: "HYPERCALL",
	ExitDebug: "DEBUG", ExitHLT: "HLT", ExitMMIO: "MMIO", ExitShutdown: "SHUTDOWN",
	ExitFailEntry: "FAIL_ENTRY", ExitIntr: "INTR", ExitInternalError: "INTERNAL_ERROR",
}

// ExitName names a kvm_run exit reason as linux/kvm.h does.
func ExitName(reason uint32) string {
	if n, ok := exitNames[reason]; ok {
		return "KVM_EXIT_" + n
	}
	return fmt.Sprintf("KVM_EXIT_%d", reason)
}
