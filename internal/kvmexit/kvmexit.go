// Package kvmexit is bcc's kvmexit: VM exits counted per vCPU thread and
// exit reason in a per-CPU hash, summed in Go; reasons named from the
// running kernel's kvm_exit format; with -L the exit-to-entry time per
// reason, and with --userspace the exits that reach the VMM.
package kvmexit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	bpf "github.com/bpfscope/bpfscope/bpf/kvm"
	"github.com/bpfscope/bpfscope/internal/kvm"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// Plan is the attach plan: classic tracepoints only (see bpf/kvm).
var Plan = loader.Plan{Backends: []loader.Backend{
	{Name: "tracepoint", Spec: bpf.LoadKvmexit},
}}

// Activity counters, ACT_* in bpf/kvm/kvm.h.
const (
	actExit      = 0
	actEntry     = 1
	actUserspace = 2
)

// Directions of I/O exits, DIR_* in bpf/kvm/kvm.h.
const (
	dirNone    = 0
	dirIn      = 1
	dirOut     = 2
	dirUnknown = 3
)

// ErrNoKVM means the machine has no /dev/kvm.
var ErrNoKVM = errors.New("no /dev/kvm: KVM is not available on this machine (load kvm-intel or kvm-amd, or enable virtualization)")

// CheckKVM returns ErrNoKVM unless /dev/kvm exists.
func CheckKVM() error {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return ErrNoKVM
	}
	return nil
}

// mode is what the run counts.
type mode int

const (
	modeExits mode = iota
	modeLatency
	modeUserspace
)

func (c *Config) mode() mode {
	switch {
	case c.Latency:
		return modeLatency
	case c.Userspace:
		return modeUserspace
	}
	return modeExits
}

// events are the kvm tracepoints each mode reads.
func (m mode) events() []string {
	switch m {
	case modeLatency:
		return []string{"kvm_exit", "kvm_entry", "kvm_userspace_exit"}
	case modeUserspace:
		return []string{"kvm_userspace_exit", "kvm_pio", "kvm_entry"}
	}
	return []string{"kvm_exit", "kvm_userspace_exit"}
}

// skip lists the programs a mode leaves out.
func (m mode) skip(vcpu bool) []string {
	switch m {
	case modeLatency:
		return []string{"kvm_pio", "sys_enter_ioctl"}
	case modeUserspace:
		if vcpu {
			return []string{"kvm_exit"}
		}
		return []string{"kvm_exit", "sys_enter_ioctl"}
	}
	return []string{"kvm_entry", "kvm_pio", "sys_enter_ioctl"}
}

// target resolves and checks the processes the flags name, and returns
// the -p process's KVM file descriptors (nil without -p).
func (c *Config) target() (vmm *kvm.VMM, err error) {
	if c.PID != 0 {
		vmm, err = kvm.CheckVMM(c.PID)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		if _, ok := vmm.VCPUs[c.VCPU]; c.VCPU >= 0 && !ok {
			return nil, cli.Usagef("there's no vCPU %d for PID %d (it has %s)", c.VCPU, c.PID, vcpuList(vmm))
		}
	}
	if c.TID != 0 {
		tgid, err := kvm.Tgid(c.TID)
		if err != nil {
			return nil, cli.Usagef("tid %d: no such thread (list threads with ps -eLf)", c.TID)
		}
		if c.PID != 0 && tgid != c.PID {
			return nil, cli.Usagef("tid %d is not a thread of pid %d", c.TID, c.PID)
		}
		if _, err := kvm.CheckVMM(tgid); err != nil {
			return nil, cli.Usagef("tid %d: %v", c.TID, err)
		}
	}
	for _, tid := range c.TIDs {
		if _, err := kvm.Tgid(tid); err != nil {
			return nil, cli.Usagef("tid %d in -T: no such thread", tid)
		}
	}
	return vmm, nil
}

func vcpuList(v *kvm.VMM) string {
	if len(v.VCPUs) == 0 {
		return "no vCPUs"
	}
	ids := make([]int, 0, len(v.VCPUs))
	for id := range v.VCPUs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return "vCPUs " + strings.Join(s, ", ")
}

// constants turns the config into the BPF side's const volatile values.
func (c *Config) constants() map[string]any {
	var tids [maxTIDs]uint32
	for i, t := range c.TIDs {
		tids[i] = uint32(t)
	}
	return map[string]any{
		"targ_tgid":     uint32(c.PID),
		"targ_tid":      uint32(c.TID),
		"targ_tids_len": uint32(len(c.TIDs)),
		"targ_tids":     tids,
		"filter_vcpu":   c.VCPU >= 0,
		"targ_vcpu":     uint32(max(c.VCPU, 0)),
		"do_latency":    c.Latency,
		"do_userspace":  c.Userspace,
	}
}

// Run loads, attaches, waits for the duration or Ctrl-C and prints.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	if err := CheckKVM(); err != nil {
		return err
	}
	m := cfg.mode()
	layout, err := kvm.LoadLayout(m.events()...)
	if err != nil {
		return err
	}
	if cfg.VCPU >= 0 && m != modeUserspace && !layout.Has("kvm_exit", "vcpu_id") {
		return errors.New("-v: this kernel's kvm_exit has no vcpu_id field (use -t TID)")
	}
	vmm, err := cfg.target()
	if err != nil {
		return err
	}
	consts := cfg.constants()
	for k, v := range layout.Constants {
		consts[k] = v
	}
	obj, err := loader.Open(Plan, loader.Options{Constants: consts, Skip: m.skip(cfg.VCPU >= 0)})
	if err != nil {
		return err
	}
	defer obj.Close()
	if vmm != nil {
		if err := vmm.FillVCPUFDs(obj.Map("vcpu_fds")); err != nil {
			return err
		}
	}

	what := "kvm exit reasons"
	if m == modeUserspace {
		what = "kvm exits to userspace"
	}
	if cfg.Duration > 0 {
		fmt.Fprintf(env.Stdout, "Display %s and statistics for %s after sleeping %d secs.\n", what, cfg.context(), cfg.Duration)
	} else {
		fmt.Fprintf(env.Stdout, "Display %s and statistics for %s... Hit Ctrl-C to end.\n", what, cfg.context())
	}
	var timer <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(time.Duration(cfg.Duration) * time.Second)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(env.Stdout)
	case <-timer:
	}

	switch m {
	case modeLatency:
		err = printLatency(env, obj)
	case modeUserspace:
		err = printUserspace(env, obj, cfg)
	default:
		err = printExits(env, obj, cfg)
	}
	if err != nil {
		return err
	}
	if m != modeUserspace {
		noteSilentExits(env.Stderr, obj)
	}
	return nil
}

// noteSilentExits says so when vCPUs ran but kvm_exit never fired.
func noteSilentExits(w io.Writer, obj *loader.Object) {
	act := obj.Map("activity")
	exits, err1 := maps.SumPerCPU[uint32, uint64](act, actExit)
	entries, err2 := maps.SumPerCPU[uint32, uint64](act, actEntry)
	user, err3 := maps.SumPerCPU[uint32, uint64](act, actUserspace)
	if err1 != nil || err2 != nil || err3 != nil || exits > 0 || entries+user == 0 {
		return
	}
	fmt.Fprintf(w, "kvmexit: vCPUs ran (%d exits to userspace, %d entries) but kvm:kvm_exit never fired: this KVM backend (e.g. PVM) does not report VM exits; try --userspace\n", user, entries)
}

// layoutKind says which columns a table has.
type layoutKind int

const (
	showPIDTID layoutKind = iota // all threads: PID TID REASON COUNT
	showTID                      // -T and -p -a: TID REASON COUNT
	showReason                   // -p, -p -v, -t: REASON COUNT, collapsed
)

func (c *Config) layout() (layoutKind, string) {
	switch {
	case len(c.TIDs) > 0:
		return showTID, "TIDS     "
	case c.PID != 0 && c.AllTIDs:
		return showTID, "TID      "
	case c.PID != 0 || c.TID != 0:
		return showReason, ""
	}
	return showPIDTID, "PID      TID      "
}

// Row is one line of the table.
type Row struct {
	PID, TID uint32
	Reason   string
	Count    uint64
}

// collapse merges rows that the layout does not tell apart and sorts them
// by count, largest first.
func collapse(rows []Row, k layoutKind) []Row {
	type key struct {
		pid, tid uint32
		reason   string
	}
	sums := make(map[key]uint64, len(rows))
	for _, r := range rows {
		kk := key{r.PID, r.TID, r.Reason}
		switch k {
		case showTID:
			kk.pid = 0
		case showReason:
			kk.pid, kk.tid = 0, 0
		}
		sums[kk] += r.Count
	}
	out := make([]Row, 0, len(sums))
	for kk, n := range sums {
		if n == 0 {
			continue
		}
		out = append(out, Row{kk.pid, kk.tid, kk.reason, n})
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID), cmp.Compare(a.TID, b.TID), strings.Compare(a.Reason, b.Reason))
	})
	return out
}

func writeTable(w io.Writer, rows []Row, k layoutKind, header string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%-35s %s\n", header, "KVM_EXIT_REASON", "COUNT")
	for _, r := range rows {
		switch k {
		case showPIDTID:
			fmt.Fprintf(&b, "%-8d %-8d %-35s %-8d\n", r.PID, r.TID, r.Reason, r.Count)
		case showTID:
			fmt.Fprintf(&b, "%-8d %-35s %-8d\n", r.TID, r.Reason, r.Count)
		default:
			fmt.Fprintf(&b, "%-35s %-8d\n", r.Reason, r.Count)
		}
	}
	io.WriteString(w, b.String())
}

// exitNamer names exit reasons, caching each (isa, reason) pair.
type exitNamer struct {
	reasons *kvm.ExitReasons
	cache   map[[2]uint32]string
}

func newExitNamer(r *kvm.ExitReasons) *exitNamer {
	return &exitNamer{reasons: r, cache: map[[2]uint32]string{}}
}

func (n *exitNamer) name(isa, reason uint32) string {
	k := [2]uint32{isa, reason}
	s, ok := n.cache[k]
	if !ok {
		s = n.reasons.Name(isa, reason)
		n.cache[k] = s
	}
	return s
}

func sum(a, b uint64) uint64 { return a + b }

// readExits reads the counts map, sums each key over the CPUs, names the
// reasons and collapses the rows for layout k: the readout the benchmark
// measures.
func readExits(m *ebpf.Map, opts maps.Options, names *kvm.ExitReasons, k layoutKind) ([]Row, error) {
	entries, err := maps.ReadPerCPUHash[bpf.ExitKey, uint64](m, sum, opts)
	if err != nil {
		return nil, err
	}
	return exitRows(entries, names, k), nil
}

// exitRows names and collapses summed counts.
func exitRows(entries []maps.Entry[bpf.ExitKey, uint64], names *kvm.ExitReasons, k layoutKind) []Row {
	namer := newExitNamer(names)
	rows := make([]Row, len(entries))
	for i, e := range entries {
		rows[i] = Row{e.Key.Pid, e.Key.Tid, namer.name(e.Key.Isa, e.Key.Reason), e.Value}
	}
	return collapse(rows, k)
}

func loadExitReasons(w io.Writer) *kvm.ExitReasons {
	names, err := kvm.LoadExitReasons()
	if err != nil {
		fmt.Fprintf(w, "kvmexit: %v: using built-in exit reason names\n", err)
	}
	return names
}

func printExits(env cli.Env, obj *loader.Object, cfg Config) error {
	names := loadExitReasons(env.Stderr)
	k, header := cfg.layout()
	rows, err := readExits(obj.Map("counts"), maps.Options{}, names, k)
	if err != nil {
		return err
	}
	writeTable(env.Stdout, rows, k, header)
	return nil
}

func printLatency(env cli.Env, obj *loader.Object) error {
	names := loadExitReasons(env.Stderr)
	entries, err := maps.ReadHash[bpf.LatKey, uint64](obj.Map("hist"), maps.Options{})
	if err != nil {
		return err
	}
	namer := newExitNamer(names)
	hists := map[string]*histogram.Log2{}
	totals := map[string]uint64{}
	for _, e := range entries {
		name := namer.name(e.Key.Isa, e.Key.Reason)
		h := hists[name]
		if h == nil {
			h = &histogram.Log2{}
			hists[name] = h
		}
		if err := h.AddSlot(int(e.Key.Slot), e.Value); err != nil {
			return err
		}
		totals[name] += e.Value
	}
	sections := make([]histogram.Section, 0, len(hists))
	for name, h := range hists {
		sections = append(sections, histogram.Section{Label: name, Buckets: h.Buckets})
	}
	slices.SortFunc(sections, func(a, b histogram.Section) int {
		return cmp.Or(cmp.Compare(totals[b.Label], totals[a.Label]), strings.Compare(a.Label, b.Label))
	})
	return histogram.WriteLog2Sections(env.Stdout, "exit reason", sections, "nsecs", histogram.StripLeadingZero())
}

// userspaceName names a --userspace key.
func userspaceName(names *kvm.UserspaceExits, k bpf.UexitKey) string {
	if k.Err < 0 || k.Reason != kvm.ExitIO {
		return names.Name(k.Reason, k.Err)
	}
	name := names.Name(k.Reason, 0)
	switch k.Dir {
	case dirOut:
		return fmt.Sprintf("%s out port %#x size %d", name, k.Port, k.Size)
	case dirIn:
		return fmt.Sprintf("%s in port %#x size %d", name, k.Port, k.Size)
	case dirUnknown:
		return name + " port unknown"
	}
	return name
}

func printUserspace(env cli.Env, obj *loader.Object, cfg Config) error {
	names, err := kvm.LoadUserspaceExits()
	if err != nil {
		fmt.Fprintf(env.Stderr, "kvmexit: %v: using built-in names\n", err)
	}
	entries, err := maps.ReadPerCPUHash[bpf.UexitKey, uint64](obj.Map("ucounts"), sum, maps.Options{})
	if err != nil {
		return err
	}
	// I/O exits still waiting for the KVM_RUN that would name their port.
	pending, err := maps.ReadHash[uint32, uint32](obj.Map("pending_in"), maps.Options{})
	if err != nil {
		return err
	}
	for _, p := range pending {
		entries = append(entries, maps.Entry[bpf.UexitKey, uint64]{
			Key:   bpf.UexitKey{Pid: p.Value, Tid: p.Key, Reason: kvm.ExitIO, Dir: dirUnknown},
			Value: 1,
		})
	}
	cache := map[bpf.UexitKey]string{}
	rows := make([]Row, len(entries))
	for i, e := range entries {
		nk := e.Key
		nk.Pid, nk.Tid = 0, 0
		name, ok := cache[nk]
		if !ok {
			name = userspaceName(names, nk)
			cache[nk] = name
		}
		rows[i] = Row{e.Key.Pid, e.Key.Tid, name, e.Value}
	}
	k, header := cfg.layout()
	writeTable(env.Stdout, collapse(rows, k), k, header)
	return nil
}
