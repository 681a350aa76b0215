package kvm

import (
	"fmt"
)

// NoField is the offset constant of a field the running kernel's record
// lacks; the BPF side reads it as 0 (kvm.bpf.h).
const NoField = 0xffffffff

// fieldSpec is a tracepoint field a BPF program reads, with the name of the
// const volatile offset it reads it at (bpf/kvm/kvm.bpf.h).
type fieldSpec struct {
	event, field, constant string
	size                   int
	optional               bool
}

var fieldSpecs = []fieldSpec{
	{"kvm_exit", "exit_reason", "exit_reason_off", 4, false},
	{"kvm_exit", "isa", "exit_isa_off", 4, false},
	{"kvm_exit", "vcpu_id", "exit_vcpu_off", 4, true},
	{"kvm_exit", "guest_rip", "exit_rip_off", 8, false},
	{"kvm_exit", "info1", "exit_info1_off", 8, true},
	{"kvm_exit", "info2", "exit_info2_off", 8, true},
	{"kvm_entry", "vcpu_id", "entry_vcpu_off", 4, false},
	{"kvm_entry", "rip", "entry_rip_off", 8, true},
	{"kvm_userspace_exit", "reason", "uexit_reason_off", 4, false},
	{"kvm_userspace_exit", "errno", "uexit_errno_off", 4, false},
	{"kvm_pio", "rw", "pio_rw_off", 4, false},
	{"kvm_pio", "port", "pio_port_off", 4, false},
	{"kvm_pio", "size", "pio_size_off", 4, false},
	{"kvm_pio", "count", "pio_count_off", 4, false},
	{"kvm_hypercall", "nr", "hc_nr_off", 8, false},
	{"kvm_hypercall", "a0", "hc_a0_off", 8, true},
	{"kvm_hypercall", "a1", "hc_a1_off", 8, true},
	{"kvm_hypercall", "a2", "hc_a2_off", 8, true},
	{"kvm_hypercall", "a3", "hc_a3_off", 8, true},
}

// Layout is where the kvm tracepoints keep the fields the BPF programs
// read, in the running kernel: record layouts change between kernels
// (kvm_exit gained intr_info and error_code in 5.12, requests in 6.x), and
// the kvm module's types are not in vmlinux BTF where KVM is a module, so
// the offsets come from tracefs and are set as constants before load.
type Layout struct {
	// Formats holds the parsed format of each event read.
	Formats map[string]*Format
	// Constants are the offset constants for loader.Options.Constants.
	Constants map[string]any
}

// Has reports whether the running kernel's event has field.
func (l *Layout) Has(event, field string) bool {
	f, ok := l.Formats[event]
	if !ok {
		return false
	}
	_, ok = f.Field(field)
	return ok
}

// LoadLayout reads the formats of the kvm events and returns the offset
// constants of their fields.
func LoadLayout(events ...string) (*Layout, error) {
	formats := map[string]*Format{}
	for _, ev := range events {
		f, err := ReadFormat("kvm", ev)
		if err != nil {
			return nil, err
		}
		formats[ev] = f
	}
	return LayoutOf(formats)
}

// LayoutOf returns the offset constants for the given formats, by event
// name.
func LayoutOf(formats map[string]*Format) (*Layout, error) {
	l := &Layout{Formats: formats, Constants: map[string]any{}}
	for _, s := range fieldSpecs {
		f, ok := formats[s.event]
		if !ok {
			continue
		}
		fl, ok := f.Field(s.field)
		switch {
		case !ok && s.optional:
			l.Constants[s.constant] = uint32(NoField)
			continue
		case !ok:
			return nil, fmt.Errorf("tracepoint kvm:%s has no field %s", s.event, s.field)
		case fl.Size != s.size:
			return nil, fmt.Errorf("tracepoint kvm:%s field %s has %d bytes, want %d", s.event, s.field, fl.Size, s.size)
		}
		l.Constants[s.constant] = uint32(fl.Offset)
	}
	return l, nil
}
