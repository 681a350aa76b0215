package kvm

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// KVM_EXIT_* values of kvm_run.exit_reason used by the tools.
const (
	ExitIO = 2
)

// uapiExits names kvm_run's exit reasons as linux/kvm.h does (Linux 6.18),
// for values the kvm_userspace_exit format's table lacks: its table stops
// at KVM_EXIT_X86_WRMSR.
var uapiExits = map[uint32]string{
	0: "UNKNOWN", 1: "EXCEPTION", 2: "IO", 3: "HYPERCALL", 4: "DEBUG", 5: "HLT", 6: "MMIO",
	7: "IRQ_WINDOW_OPEN", 8: "SHUTDOWN", 9: "FAIL_ENTRY", 10: "INTR", 11: "SET_TPR",
	12: "TPR_ACCESS", 13: "S390_SIEIC", 14: "S390_RESET", 15: "DCR", 16: "NMI",
	17: "INTERNAL_ERROR", 18: "OSI", 19: "PAPR_HCALL", 20: "S390_UCONTROL", 21: "WATCHDOG",
	22: "S390_TSCH", 23: "EPR", 24: "SYSTEM_EVENT", 25: "S390_STSI", 26: "IOAPIC_EOI",
	27: "HYPERV", 28: "ARM_NISV", 29: "X86_RDMSR", 30: "X86_WRMSR", 31: "DIRTY_RING_FULL",
	32: "AP_RESET_HOLD", 33: "X86_BUS_LOCK", 34: "XEN", 35: "RISCV_SBI", 36: "RISCV_CSR",
	37: "NOTIFY", 38: "LOONGARCH_IOCSR", 39: "MEMORY_FAULT", 40: "TDX",
}

// UserspaceExits names the exits to userspace (kvm_run.exit_reason).
type UserspaceExits struct {
	Table  *Table
	Source string // "tracefs" or "built-in"
}

// Name names an exit to userspace: KVM_EXIT_IO, ..., or for a KVM_RUN that
// returned an error (errno < 0) "restart" for EINTR and "error EFAULT" for
// others, as the kernel's trace output does.
func (u *UserspaceExits) Name(reason uint32, errno int32) string {
	if errno < 0 {
		if errno == -int32(unix.EINTR) {
			return "restart (EINTR)"
		}
		if n := unix.ErrnoName(unix.Errno(-errno)); n != "" {
			return "error " + n
		}
		return fmt.Sprintf("error %d", -errno)
	}
	return u.Table.Name(reason)
}

// Lookup returns the exit reason named name, with or without the
// KVM_EXIT_ prefix, case-insensitive.
func (u *UserspaceExits) Lookup(name string) (uint32, bool) {
	if v, ok := u.Table.Lookup(name); ok {
		return v, true
	}
	return u.Table.Lookup("KVM_EXIT_" + name)
}

// UserspaceExitsFromFormat reads the kvm_userspace_exit format's
// __print_symbolic table, completed with linux/kvm.h's names.
func UserspaceExitsFromFormat(f *Format) (*UserspaceExits, error) {
	pf, err := ParsePrintFmt(f.PrintFmt)
	if err != nil {
		return nil, err
	}
	var (
		table   *Table
		walkErr error
	)
	for _, arg := range pf.Args {
		walkTables(arg, "reason", "", isaCond{}, func(_ isaCond, t *Table, flags bool) {
			if !flags && table == nil {
				table = t
			}
		}, &walkErr)
	}
	if walkErr != nil {
		return nil, walkErr
	}
	if table == nil {
		return nil, fmt.Errorf("kvm_userspace_exit print fmt has no __print_symbolic table for reason")
	}
	table.Mask = 0xffffffff
	for v, n := range uapiExits {
		if _, ok := table.Names[v]; !ok {
			table.Names[v] = "KVM_EXIT_" + n
		}
	}
	return &UserspaceExits{Table: table, Source: "tracefs"}, nil
}

//go:embed builtin_kvm_userspace_exit.format
var builtinUserspaceFormat string

var (
	builtinUOnce sync.Once
	builtinU     *UserspaceExits
)

// BuiltinUserspaceExits returns linux/kvm.h's names.
func BuiltinUserspaceExits() *UserspaceExits {
	builtinUOnce.Do(func() {
		f, err := ParseFormat(strings.NewReader(builtinUserspaceFormat))
		if err == nil {
			builtinU, err = UserspaceExitsFromFormat(f)
		}
		if err != nil {
			panic("kvm: built-in kvm_userspace_exit format: " + err.Error())
		}
		builtinU.Source = "built-in"
	})
	return builtinU
}

// LoadUserspaceExits returns the running kernel's names for exits to
// userspace, or the built-in ones with the reason why.
func LoadUserspaceExits() (*UserspaceExits, error) {
	f, err := ReadFormat("kvm", "kvm_userspace_exit")
	if err != nil {
		return BuiltinUserspaceExits(), err
	}
	u, err := UserspaceExitsFromFormat(f)
	if err != nil {
		return BuiltinUserspaceExits(), fmt.Errorf("kvm_userspace_exit format: %w", err)
	}
	return u, nil
}
