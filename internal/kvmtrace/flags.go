package kvmtrace

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/internal/kvm"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

const usage = "kvmtrace [-h] [-p PID [-v VCPU]] [-t TID] [-r REASONS] [-u] [--json]"

const description = `Trace KVM VM exits and entries: one line per kvm:kvm_exit, kvm:kvm_entry and
kvm:kvm_hypercall event (bcc's classic kvm_hypercall.py example, per thread), with the
exit reason named by the running kernel's kvm_exit tables and the guest RIP. With -r,
only exits of those reasons are shown, each with the hypercall and the entry that follow
it on the same thread. -u adds the exits that reach the VMM (kvm:kvm_userspace_exit) and
port I/O (kvm:kvm_pio).`

const examples = `    kvmtrace                      # trace all VM exits and entries
    kvmtrace -p 181               # only trace the VMM with PID 181
    kvmtrace -p 181 -v 0          # only its vCPU 0
    kvmtrace -t 190               # only trace thread 190
    kvmtrace -r VMCALL            # VMCALL exits with their hypercall and the next entry (bcc's kvm_hypercall.py)
    kvmtrace -r hlt,io            # SVM hlt and io exits (names are the kernel's: HLT, IO_INSTRUCTION on VMX)
    kvmtrace -u -r KVM_EXIT_IO    # exits to userspace for port I/O, with the port
    kvmtrace --json               # one JSON object per event`

// maxReasons is MAX_REASONS in bpf/kvm/kvm.h.
const maxReasons = 16

// Config is what the flags ask for.
type Config struct {
	PID       int
	TID       int
	VCPU      int // -1: all
	Reasons   []string
	Userspace bool
	JSON      bool
}

// Main parses kvmtrace's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	cfg, err := parseFlags(env)
	if err != nil {
		return err
	}
	return Run(ctx, env, cfg)
}

func parseFlags(env cli.Env) (Config, error) {
	fs := cli.NewFlagSet("kvmtrace", usage, description, examples)
	cfg := Config{VCPU: -1}
	var reasons string
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this `PID` only")
	fs.IntVarP(&cfg.TID, "tid", "t", 0, "trace this `TID` only")
	fs.IntVarP(&cfg.VCPU, "vcpu", "v", 0, "trace this `VCPU` only (with -p; the vcpu_id of kvm_exit and kvm_entry)")
	fs.StringVarP(&reasons, "reason", "r", "", "comma-separated exit `REASONS`: kernel names (HLT, hlt, VMCALL), numbers, or KVM_EXIT_* for exits to userspace")
	fs.BoolVarP(&cfg.Userspace, "userspace", "u", false, "also trace exits to userspace (kvm:kvm_userspace_exit) and port I/O (kvm:kvm_pio)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per event")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return cfg, err
	}
	if !fs.Changed("vcpu") {
		cfg.VCPU = -1
	}
	if fs.NArg() > 0 {
		return cfg, cli.Usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return cfg, err
		}
	}
	if fs.Changed("tid") && cfg.TID <= 0 {
		return cfg, cli.Usagef("tid %d: want a thread id > 0", cfg.TID)
	}
	if fs.Changed("vcpu") {
		if !fs.Changed("pid") {
			return cfg, cli.Usagef("-v VCPU needs -p PID: vCPU numbers are per VM")
		}
		if cfg.VCPU < 0 {
			return cfg, cli.Usagef("vcpu %d: want a number >= 0", cfg.VCPU)
		}
	}
	if reasons != "" {
		for _, r := range strings.Split(reasons, ",") {
			if r = strings.TrimSpace(r); r == "" {
				return cfg, cli.Usagef("-r %q: empty reason", reasons)
			}
			cfg.Reasons = append(cfg.Reasons, r)
		}
	}
	return cfg, nil
}

// Filter is -r resolved against the reason tables.
type Filter struct {
	Exits     [][2]uint32 // (isa, value); VMX values are basic reasons
	Userspace []uint32
}

// ResolveReasons turns -r's names and numbers into exit reasons of each
// isa, and KVM_EXIT_* names into exits to userspace.
func ResolveReasons(reasons []string, exits *kvm.ExitReasons, user *kvm.UserspaceExits) (Filter, error) {
	var f Filter
	add := func(isa, v uint32) {
		p := [2]uint32{isa, v}
		for _, q := range f.Exits {
			if q == p {
				return
			}
		}
		f.Exits = append(f.Exits, p)
	}
	isas := []uint32{kvm.ISAVMX, kvm.ISASVM}
	for _, r := range reasons {
		if strings.HasPrefix(strings.ToUpper(r), "KVM_EXIT_") {
			v, ok := user.Lookup(r)
			if !ok {
				return f, cli.Usagef("-r %s: no such exit to userspace (KVM_EXIT_IO, KVM_EXIT_HLT, KVM_EXIT_MMIO, ...)", r)
			}
			f.Userspace = append(f.Userspace, v)
			continue
		}
		if n, err := strconv.ParseUint(r, 0, 32); err == nil {
			for _, isa := range isas {
				v := uint32(n)
				if isa == kvm.ISAVMX {
					v &= 0xffff
				}
				add(isa, v)
			}
			continue
		}
		found := false
		for _, isa := range isas {
			if t := exits.Table(isa); t != nil {
				if v, ok := t.Lookup(r); ok {
					add(isa, v)
					found = true
				}
			}
		}
		if !found {
			return f, cli.Usagef("-r %s: no such exit reason in this kernel's kvm_exit tables (e.g. HLT, VMCALL on VMX; hlt, io on SVM)", r)
		}
	}
	if len(f.Exits) > maxReasons || len(f.Userspace) > maxReasons {
		return f, cli.Usagef("-r: at most %d reasons", maxReasons)
	}
	return f, nil
}

// context describes the filter for the banner.
func (c *Config) context() string {
	var parts []string
	if c.PID != 0 {
		parts = append(parts, fmt.Sprintf("PID %d", c.PID))
	}
	if c.VCPU >= 0 {
		parts = append(parts, fmt.Sprintf("VCPU %d", c.VCPU))
	}
	if c.TID != 0 {
		parts = append(parts, fmt.Sprintf("TID %d", c.TID))
	}
	if len(parts) == 0 {
		return "all threads"
	}
	return strings.Join(parts, " ")
}
