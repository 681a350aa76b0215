package kvmguest

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KVM ioctl numbers and structures, from linux/kvm.h (x86).
const (
	kvmGetAPIVersion       = 0xAE00
	kvmCreateVM            = 0xAE01
	kvmGetVCPUMmapSize     = 0xAE04
	kvmCreateVCPU          = 0xAE41
	kvmSetUserMemoryRegion = 0x4020AE46
	kvmRun                 = 0xAE80
	kvmGetRegs             = 0x8090AE81
	kvmSetRegs             = 0x4090AE82
	kvmGetSregs            = 0x8138AE83
	kvmSetSregs            = 0x4138AE84

	kvmAPIVersion = 12
)

// Exit reasons of struct kvm_run, the ones the guest expects or reports.
const (
	ExitUnknown       = 0
	ExitException     = 1
	ExitIO            = 2
	ExitHypercall     = 3
	ExitDebug         = 4
	ExitHLT           = 5
	ExitMMIO          = 6
	ExitShutdown      = 8
	ExitFailEntry     = 9
	ExitIntr          = 10
	ExitInternalError = 17
)

// Directions of kvm_run.io.
const (
	ioIn  = 0
	ioOut = 1
)

type userspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

type regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

type segment struct {
	Base                            uint64
	Limit                           uint32
	Selector                        uint16
	Type, Present, DPL, DB, S, L, G uint8
	AVL, Unusable, Padding          uint8
}

type dtable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

type sregs struct {
	CS, DS, ES, FS, GS, SS  segment
	TR, LDT                 segment
	GDT, IDT                dtable
	CR0, CR2, CR3, CR4, CR8 uint64
	EFER, APICBase          uint64
	InterruptBitmap         [4]uint64
}

// run is the head of struct kvm_run, mapped from the vCPU fd: the fixed
// fields and the io member of the exit union.
type run struct {
	RequestInterruptWindow uint8
	ImmediateExit          uint8
	_                      [6]uint8
	ExitReason             uint32
	ReadyForInterrupt      uint8
	IFFlag                 uint8
	Flags                  uint16
	CR8                    uint64
	APICBase               uint64
	// union: struct { __u8 direction, size; __u16 port; __u32 count; __u64 data_offset; } io
	IODirection  uint8
	IOSize       uint8
	IOPort       uint16
	IOCount      uint32
	IODataOffset uint64
}

// Compile-time layout checks against linux/kvm.h.
var (
	_ [unsafe.Sizeof(regs{}) - 144]struct{}
	_ [144 - unsafe.Sizeof(regs{})]struct{}
	_ [unsafe.Sizeof(sregs{}) - 312]struct{}
	_ [312 - unsafe.Sizeof(sregs{})]struct{}
	_ [unsafe.Sizeof(segment{}) - 24]struct{}
	_ [unsafe.Sizeof(userspaceMemoryRegion{}) - 32]struct{}
	_ [unsafe.Offsetof(run{}.IODirection) - 32]struct{}
)

func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return r, errno
		}
		return r, nil
	}
}

func ioctlPtr[T any](fd int, req uintptr, p *T) error {
	_, err := ioctl(fd, req, uintptr(unsafe.Pointer(p)))
	return err
}

func ioctlName(req uintptr) string {
	switch req {
	case kvmGetAPIVersion:
		return "KVM_GET_API_VERSION"
	case kvmCreateVM:
		return "KVM_CREATE_VM"
	case kvmGetVCPUMmapSize:
		return "KVM_GET_VCPU_MMAP_SIZE"
	case kvmCreateVCPU:
		return "KVM_CREATE_VCPU"
	case kvmSetUserMemoryRegion:
		return "KVM_SET_USER_MEMORY_REGION"
	case kvmRun:
		return "KVM_RUN"
	case kvmGetRegs:
		return "KVM_GET_REGS"
	case kvmSetRegs:
		return "KVM_SET_REGS"
	case kvmGetSregs:
		return "KVM_GET_SREGS"
	case kvmSetSregs:
		return "KVM_SET_SREGS"
	}
	return fmt.Sprintf("ioctl %#x", req)
}
