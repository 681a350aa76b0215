// Package kvmtrace is bcc's classic KVM tracing examples made a tool: the
// kvm_exit / kvm_entry event stream with kvm_hypercall, optionally the exits
// to userspace and port I/O, through the events.bpf.h stream.
package kvmtrace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	bpf "github.com/bpfscope/bpfscope/bpf/kvm"
	"github.com/bpfscope/bpfscope/internal/kvm"
	"github.com/bpfscope/bpfscope/internal/kvmexit"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// Plan is the attach plan: classic tracepoints only (see bpf/kvm).
var Plan = loader.Plan{Backends: []loader.Backend{
	{Name: "tracepoint", Spec: bpf.LoadKvmtrace},
}}

// Event types, EV_* in bpf/kvm/kvm.h.
const (
	evExit      = 1
	evEntry     = 2
	evHypercall = 3
	evUserspace = 4
	evPIO       = 5
)

// EventName names an event type after its tracepoint.
func EventName(t uint32) string {
	switch t {
	case evExit:
		return "kvm_exit"
	case evEntry:
		return "kvm_entry"
	case evHypercall:
		return "kvm_hypercall"
	case evUserspace:
		return "kvm_userspace_exit"
	case evPIO:
		return "kvm_pio"
	}
	return fmt.Sprintf("event%d", t)
}

const noVCPU = 0xffffffff

// Run loads, attaches and prints events until ctx is done.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	if err := kvmexit.CheckKVM(); err != nil {
		return err
	}
	events := []string{"kvm_exit", "kvm_entry", "kvm_hypercall"}
	skip := []string{"kvm_userspace_exit", "kvm_pio", "sys_enter_ioctl"}
	if cfg.Userspace {
		events = append(events, "kvm_userspace_exit", "kvm_pio")
		skip = []string{"sys_enter_ioctl"}
	}
	layout, err := kvm.LoadLayout(events...)
	if err != nil {
		return err
	}
	if cfg.VCPU >= 0 && !layout.Has("kvm_exit", "vcpu_id") {
		return fmt.Errorf("-v: this kernel's kvm_exit has no vcpu_id field (use -t TID)")
	}
	exits, err := kvm.LoadExitReasons()
	if err != nil {
		fmt.Fprintf(env.Stderr, "kvmtrace: %v: using built-in exit reason names\n", err)
	}
	user, err := kvm.LoadUserspaceExits()
	if err != nil && cfg.Userspace {
		fmt.Fprintf(env.Stderr, "kvmtrace: %v: using built-in names\n", err)
	}
	filter, err := ResolveReasons(cfg.Reasons, exits, user)
	if err != nil {
		return err
	}
	if len(filter.Userspace) > 0 && !cfg.Userspace {
		return cli.Usagef("-r KVM_EXIT_*: exits to userspace need -u")
	}
	var vmm *kvm.VMM
	if cfg.PID != 0 {
		if vmm, err = kvm.CheckVMM(cfg.PID); err != nil {
			return cli.Usagef("%v", err)
		}
		if _, ok := vmm.VCPUs[cfg.VCPU]; cfg.VCPU >= 0 && !ok {
			return cli.Usagef("there's no vCPU %d for PID %d", cfg.VCPU, cfg.PID)
		}
		if cfg.Userspace {
			// KVM_RUN ioctls name the vCPU of userspace exits and port
			// I/O where kvm_entry does not fire.
			skip = nil
		}
	}
	if cfg.TID != 0 {
		tgid, err := kvm.Tgid(cfg.TID)
		if err != nil {
			return cli.Usagef("tid %d: no such thread (list threads with ps -eLf)", cfg.TID)
		}
		if _, err := kvm.CheckVMM(tgid); err != nil {
			return cli.Usagef("tid %d: %v", cfg.TID, err)
		}
	}

	consts := constants(cfg, filter)
	for k, v := range layout.Constants {
		consts[k] = v
	}
	obj, err := loader.Open(Plan, loader.Options{Constants: consts, Skip: skip})
	if err != nil {
		return err
	}
	defer obj.Close()
	if vmm != nil {
		if err := vmm.FillVCPUFDs(obj.Map("vcpu_fds")); err != nil {
			return err
		}
	}
	stream, err := obj.OpenEvents(0)
	if err != nil {
		return err
	}

	p := &printer{w: env.Stdout, json: cfg.JSON, exits: exits, user: user}
	banner := fmt.Sprintf("Tracing KVM exits and entries for %s... Hit Ctrl-C to end.", cfg.context())
	if cfg.JSON {
		fmt.Fprintln(env.Stderr, banner)
	} else {
		fmt.Fprintln(env.Stdout, banner)
		p.header()
	}
	err = maps.ConsumeEvents(ctx, stream, func(ev *bpf.Event) error { return p.event(ev) }, cli.LostPrinter(env.Stderr))
	if cfg.Userspace && p.seen[evExit] == 0 && p.seen[evUserspace] > 0 {
		fmt.Fprintf(env.Stderr, "kvmtrace: vCPUs ran (%d exits to userspace) but kvm:kvm_exit never fired: this KVM backend (e.g. PVM) does not report VM exits\n", p.seen[evUserspace])
	}
	return err
}

func constants(cfg Config, f Filter) map[string]any {
	var (
		isas, vals, uvals [maxReasons]uint32
	)
	for i, p := range f.Exits {
		isas[i], vals[i] = p[0], p[1]
	}
	copy(uvals[:], f.Userspace)
	return map[string]any{
		"targ_tgid":          uint32(cfg.PID),
		"targ_tid":           uint32(cfg.TID),
		"filter_vcpu":        cfg.VCPU >= 0,
		"targ_vcpu":          uint32(max(cfg.VCPU, 0)),
		"do_userspace":       cfg.Userspace,
		"exit_filter_len":    uint32(len(f.Exits)),
		"exit_filter_isa":    isas,
		"exit_filter_reason": vals,
		"uexit_filter_len":   uint32(len(f.Userspace)),
		"uexit_filter":       uvals,
	}
}

type printer struct {
	w       io.Writer
	json    bool
	exits   *kvm.ExitReasons
	user    *kvm.UserspaceExits
	firstTS uint64
	seen    [evPIO + 1]uint64
}

const lineFormat = "%-14s %-16s %-7s %-7s %-4s %-18s %-24s %-10s %s"

func (p *printer) header() {
	fmt.Fprintln(p.w, strings.TrimRight(fmt.Sprintf(lineFormat, "TIME(s)", "COMM", "PID", "TID", "VCPU", "EVENT", "REASON", "RIP", "DETAIL"), " "))
}

// Record is an event as --json prints it.
type Record struct {
	Time       float64  `json:"time"`
	Comm       string   `json:"comm"`
	PID        uint32   `json:"pid"`
	TID        uint32   `json:"tid"`
	VCPU       *uint32  `json:"vcpu"`
	Event      string   `json:"event"`
	Reason     string   `json:"reason,omitempty"`
	ExitReason *uint32  `json:"exit_reason,omitempty"`
	ISA        string   `json:"isa,omitempty"`
	RIP        *uint64  `json:"rip,omitempty"`
	Info1      *uint64  `json:"info1,omitempty"`
	Info2      *uint64  `json:"info2,omitempty"`
	Nr         *uint64  `json:"nr,omitempty"`
	Args       []uint64 `json:"args,omitempty"`
	Errno      *int32   `json:"errno,omitempty"`
	Direction  string   `json:"direction,omitempty"`
	Port       *uint32  `json:"port,omitempty"`
	Size       *uint64  `json:"size,omitempty"`
	Count      *uint64  `json:"count,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// record turns an event into its JSON form, which the text form is built
// from too.
func (p *printer) record(ev *bpf.Event) Record {
	if p.firstTS == 0 {
		p.firstTS = ev.TsNs
	}
	r := Record{
		Time:  float64(ev.TsNs-p.firstTS) / 1e9,
		Comm:  maps.CString(ev.Comm[:]),
		PID:   ev.Pid,
		TID:   ev.Tid,
		Event: EventName(ev.Type),
	}
	if ev.Vcpu != noVCPU && ev.Vcpu != 0xfffffffe {
		r.VCPU = ptr(ev.Vcpu)
	}
	switch ev.Type {
	case evExit:
		r.Reason = p.exits.Name(ev.Isa, ev.Reason)
		r.ExitReason = ptr(ev.Reason)
		r.ISA = kvm.ISAName(ev.Isa)
		r.RIP = ptr(ev.Rip)
		r.Info1, r.Info2 = ptr(ev.Args[0]), ptr(ev.Args[1])
	case evEntry:
		r.RIP = ptr(ev.Rip)
	case evHypercall:
		r.Nr = ptr(ev.Args[0])
		r.Args = ev.Args[1:5]
	case evUserspace:
		errno := int32(ev.Isa)
		r.Reason = p.user.Name(ev.Reason, errno)
		if errno < 0 {
			r.Errno = ptr(errno)
		} else {
			r.ExitReason = ptr(ev.Reason)
		}
	case evPIO:
		r.Direction = "in"
		if ev.Isa != 0 {
			r.Direction = "out"
		}
		r.Port = ptr(ev.Reason)
		r.Size, r.Count = ptr(ev.Args[0]), ptr(ev.Args[1])
	}
	return r
}

func (p *printer) event(ev *bpf.Event) error {
	if int(ev.Type) < len(p.seen) {
		p.seen[ev.Type]++
	}
	r := p.record(ev)
	if p.json {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	vcpu, rip, reason, detail := "-", "-", "-", ""
	if r.VCPU != nil {
		vcpu = fmt.Sprint(*r.VCPU)
	}
	if r.RIP != nil {
		rip = fmt.Sprintf("%#x", *r.RIP)
	}
	if r.Reason != "" {
		reason = r.Reason
	}
	switch ev.Type {
	case evExit:
		detail = fmt.Sprintf("info1 %#x info2 %#x", *r.Info1, *r.Info2)
	case evHypercall:
		reason = fmt.Sprintf("nr %#x", *r.Nr)
		detail = fmt.Sprintf("a0 %#x a1 %#x a2 %#x a3 %#x", r.Args[0], r.Args[1], r.Args[2], r.Args[3])
	case evPIO:
		reason = fmt.Sprintf("%s port %#x", r.Direction, *r.Port)
		detail = fmt.Sprintf("size %d count %d", *r.Size, *r.Count)
	}
	line := fmt.Sprintf(lineFormat, fmt.Sprintf("%.9f", r.Time), r.Comm, fmt.Sprint(r.PID), fmt.Sprint(r.TID), vcpu, r.Event, reason, rip, detail)
	_, err := fmt.Fprintln(p.w, strings.TrimRight(line, " "))
	return err
}
