package kvmtrace

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/internal/kvm"
	"github.com/bpfscope/bpfscope/internal/kvmguest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"kvmtrace": Main})
}

func newGuest(t *testing.T, cfg kvmguest.Config) *kvmguest.Guest {
	t.Helper()
	g, err := kvmguest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// waitOutput polls the tool's stdout until done says it is complete: events
// still buffered when the tool is stopped are not printed.
func waitOutput(t *testing.T, tl *kerneltest.Tool, done func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done(tl.Stdout()) {
		if time.Now().After(deadline) {
			t.Errorf("output incomplete after 30s")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// traceGuest runs kvmtrace --json with args around a run of g and returns
// the guest's result, the events and stderr. It stops the tool once it has
// printed last lines containing mark (last < 0: one per HLT exit of the
// guest).
func traceGuest(t *testing.T, g *kvmguest.Guest, last int, mark string, args ...string) (*kvmguest.Result, []Record, string) {
	t.Helper()
	tl := kerneltest.StartTool(t, "kvmtrace", append([]string{"--json"}, args...)...)
	tl.WaitStderr("Tracing KVM", 30*time.Second)
	res, err := g.Run()
	if err != nil {
		t.Fatalf("guest: %v", err)
	}
	if last < 0 {
		last = res.Exits(kvmguest.ExitHLT)
	}
	waitOutput(t, tl, func(out string) bool { return strings.Count(out, mark) >= last })
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("kvmtrace %v: exit %d\nstderr:\n%s", args, st, tl.Stderr())
	}
	var recs []Record
	for _, line := range strings.Split(strings.TrimSpace(tl.Stdout()), "\n") {
		if line == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return res, recs, tl.Stderr()
}

// count counts the records that match.
func count(recs []Record, match func(Record) bool) int {
	n := 0
	for _, r := range recs {
		if match(r) {
			n++
		}
	}
	return n
}

func TestUserspaceEvents(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	g := newGuest(t, kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 10})
	res, recs, stderr := traceGuest(t, g, -1, `"KVM_EXIT_HLT"`, "-u", "-p", strconv.Itoa(os.Getpid()))
	for _, v := range res.VCPUs {
		tid := uint32(v.TID)
		io := count(recs, func(r Record) bool {
			return r.TID == tid && r.Event == "kvm_userspace_exit" && r.Reason == "KVM_EXIT_IO"
		})
		hlt := count(recs, func(r Record) bool {
			return r.TID == tid && r.Event == "kvm_userspace_exit" && r.Reason == "KVM_EXIT_HLT"
		})
		pio := count(recs, func(r Record) bool {
			return r.TID == tid && r.Event == "kvm_pio" && r.Direction == "out" && *r.Port == uint32(v.Port) && *r.Size == 1 && *r.Count == 1
		})
		if io != v.IO || hlt != v.HLT || pio != v.IO {
			t.Errorf("vcpu %d (tid %d): %d IO, %d HLT userspace exits, %d OUTs to port %#x; want %d, %d, %d", v.ID, tid, io, hlt, pio, v.Port, v.IO, v.HLT, v.IO)
		}
	}
	if n := count(recs, func(r Record) bool { return r.PID != uint32(res.PID) }); n > 0 {
		t.Errorf("%d events of other processes", n)
	}
	// With -p, KVM_RUN on the vCPU fds names the vCPU of every event.
	for _, v := range res.VCPUs {
		if n := count(recs, func(r Record) bool { return r.TID == uint32(v.TID) && (r.VCPU == nil || *r.VCPU != uint32(v.ID)) }); n > 0 {
			t.Errorf("vcpu %d: %d events without its vCPU id", v.ID, n)
		}
	}
	if kerneltest.HaveKVM(kerneltest.KVMExit) != nil && !strings.Contains(stderr, "kvm:kvm_exit never fired") {
		t.Errorf("no note that kvm_exit never fired: %q", stderr)
	}
}

func TestUserspaceReasonFilter(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	g := newGuest(t, kvmguest.Config{Outs: 3, Iterations: 7})
	res, recs, _ := traceGuest(t, g, -1, `"KVM_EXIT_HLT"`, "-u", "-p", strconv.Itoa(os.Getpid()), "-r", "KVM_EXIT_HLT")
	hlt := count(recs, func(r Record) bool { return r.Event == "kvm_userspace_exit" && r.Reason == "KVM_EXIT_HLT" })
	if hlt != res.Exits(kvmguest.ExitHLT) {
		t.Errorf("%d HLT exits, want %d", hlt, res.Exits(kvmguest.ExitHLT))
	}
	// Hardware exits of other reasons and their entries are filtered out;
	// only a hlt exit, its userspace exit and the next entry may show.
	for _, r := range recs {
		switch r.Event {
		case "kvm_userspace_exit":
			if r.Reason != "KVM_EXIT_HLT" {
				t.Errorf("unexpected event %+v", r)
			}
		case "kvm_exit":
			if !strings.EqualFold(r.Reason, "hlt") {
				t.Errorf("unexpected event %+v", r)
			}
		case "kvm_pio":
			t.Errorf("unexpected event %+v", r)
		}
	}
}

func TestExitEntryEvents(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM, kerneltest.KVMExit)
	g := newGuest(t, kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 10})
	res, recs, stderr := traceGuest(t, g, -1, `"reason":"h`, "-p", strconv.Itoa(os.Getpid()))
	for _, v := range res.VCPUs {
		tid := uint32(v.TID)
		mine := func(r Record) bool { return r.TID == tid && r.VCPU != nil && *r.VCPU == uint32(v.ID) }
		io := count(recs, func(r Record) bool {
			return mine(r) && r.Event == "kvm_exit" && (r.Reason == "io" || r.Reason == "IO_INSTRUCTION") && *r.RIP == kvmguest.OutRIP
		})
		hlt := count(recs, func(r Record) bool {
			return mine(r) && r.Event == "kvm_exit" && strings.EqualFold(r.Reason, "hlt") && *r.RIP == kvmguest.HLTRIP
		})
		exits := count(recs, func(r Record) bool { return mine(r) && r.Event == "kvm_exit" })
		entries := count(recs, func(r Record) bool { return mine(r) && r.Event == "kvm_entry" })
		if io != v.IO || hlt != v.HLT {
			t.Errorf("vcpu %d: %d io exits at %#x, %d hlt exits at %#x; want %d and %d", v.ID, io, kvmguest.OutRIP, hlt, kvmguest.HLTRIP, v.IO, v.HLT)
		}
		// Entries and exits alternate; the last exit has no entry after it.
		if entries != exits {
			t.Errorf("vcpu %d: %d entries for %d exits", v.ID, entries, exits)
		}
		t.Logf("vcpu %d: %d exits (%d io, %d hlt), %d entries", v.ID, exits, io, hlt, entries)
	}
	if strings.Contains(stderr, "lost") {
		t.Logf("stderr: %s", stderr)
	}
}

func TestVCPUFilter(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM, kerneltest.KVMExit)
	g := newGuest(t, kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 5})
	res, recs, _ := traceGuest(t, g, 5, `"reason":"h`, "-p", strconv.Itoa(os.Getpid()), "-v", "1")
	v := res.VCPUs[1]
	if n := count(recs, func(r Record) bool { return r.TID != uint32(v.TID) || r.VCPU == nil || *r.VCPU != 1 }); n > 0 {
		t.Errorf("%d events of other vCPUs", n)
	}
	io := count(recs, func(r Record) bool { return r.Event == "kvm_exit" && *r.RIP == kvmguest.OutRIP })
	if io != v.IO {
		t.Errorf("%d io exits of vcpu 1, want %d", io, v.IO)
	}
}

// TestHypercall is bcc's kvm_hypercall.py: VMCALL (VMMCALL) exits, each
// with its hypercall and the next entry.
func TestHypercall(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM, kerneltest.KVMExit)
	g := newGuest(t, kvmguest.Config{Outs: 2, Iterations: 5, Hypercalls: true})
	// The guest makes its hypercall after each HLT but the last.
	res, recs, _ := traceGuest(t, g, 4, `"kvm_entry"`, "-p", strconv.Itoa(os.Getpid()), "-r", "VMCALL,hypercall")
	want := res.Exits(kvmguest.ExitHLT) - 1
	var seq []string
	for _, r := range recs {
		switch r.Event {
		case "kvm_exit":
			seq = append(seq, "exit")
			if *r.RIP != kvmguest.HypercallRIP {
				t.Errorf("hypercall exit at rip %#x, want %#x", *r.RIP, kvmguest.HypercallRIP)
			}
		case "kvm_hypercall":
			seq = append(seq, "hypercall")
			if *r.Nr != kvmguest.HypercallNr || r.Args[0] != 2 {
				t.Errorf("hypercall %+v: want nr %d, a0 2 (the guest's BX)", r, kvmguest.HypercallNr)
			}
		case "kvm_entry":
			seq = append(seq, "entry")
		default:
			t.Errorf("unexpected event %+v", r)
		}
	}
	wantSeq := strings.TrimSuffix(strings.Repeat("exit hypercall entry ", want), " ")
	if got := strings.Join(seq, " "); got != wantSeq {
		t.Errorf("events %q, want %q", got, wantSeq)
	}
}

func TestTextOutput(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	text := func(t *testing.T, cfg kvmguest.Config, done func(string) bool, args ...string) string {
		g := newGuest(t, cfg)
		tl := kerneltest.StartTool(t, "kvmtrace", args...)
		tl.WaitStdout("Tracing KVM exits and entries for PID", 30*time.Second)
		if _, err := g.Run(); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, tl, done)
		if st := tl.Stop(syscall.SIGINT); st != 0 {
			t.Fatalf("exit %d: %s", st, tl.Stderr())
		}
		out := tl.Stdout()
		t.Logf("kvmtrace %s:\n%s%s", strings.Join(args, " "), out, tl.Stderr())
		if !strings.Contains(out, "TIME(s)        COMM             PID     TID     VCPU EVENT              REASON                   RIP        DETAIL") {
			t.Errorf("no header:\n%s", out)
		}
		return out
	}
	pid := strconv.Itoa(os.Getpid())
	t.Run("userspace", func(t *testing.T) {
		out := text(t, kvmguest.Config{Outs: 2, Iterations: 2},
			func(out string) bool { return strings.Count(out, "KVM_EXIT_HLT") == 2 }, "-u", "-p", pid)
		if strings.Count(out, "out port 0xe9") != 4 || strings.Count(out, "KVM_EXIT_IO") != 4 {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("hypercall", func(t *testing.T) {
		kerneltest.NeedKVM(t, kerneltest.KVMExit)
		out := text(t, kvmguest.Config{Outs: 2, Iterations: 3, Hypercalls: true},
			func(out string) bool { return strings.Count(out, "kvm_entry") == 2 }, "-p", pid, "-r", "VMCALL,hypercall")
		if strings.Count(out, "kvm_hypercall") != 2 || strings.Count(out, "nr 0x1") != 2 {
			t.Errorf("output:\n%s", out)
		}
	})
}

func TestReleasedOnExit(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	g := newGuest(t, kvmguest.Config{})
	_ = g
	for _, args := range [][]string{{}, {"-u", "-p", strconv.Itoa(os.Getpid()), "-v", "0", "-r", "hlt"}} {
		tl := kerneltest.StartTool(t, "kvmtrace", args...)
		tl.WaitStdout("Tracing KVM", 30*time.Second)
		objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs.Programs) == 0 {
			t.Fatalf("kvmtrace %v holds no programs: %+v", args, objs)
		}
		if st := tl.Stop(syscall.SIGINT); st != 0 {
			t.Fatalf("kvmtrace %v: exit %d: %s", args, st, tl.Stderr())
		}
		kerneltest.AssertReleased(t, objs)
	}
}

func TestBadInput(t *testing.T) {
	kerneltest.Root(t)
	cases := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"-v", "0"}, 2, "-v VCPU needs -p PID"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"-t", "0"}, 2, "tid 0"},
		{[]string{"-p", "999999999"}, 2, "no such process"},
	}
	if kvmguest.Available() == nil {
		cases = append(cases, []struct {
			args   []string
			status int
			want   string
		}{
			{[]string{"-p", "1"}, 2, "pid 1 is not a KVM VMM"},
			{[]string{"-r", "nonsense"}, 2, "no such exit reason"},
			{[]string{"-r", "KVM_EXIT_HLT"}, 2, "need -u"},
			{[]string{"-u", "-r", "KVM_EXIT_NONSENSE"}, 2, "no such exit to userspace"},
		}...)
	} else {
		cases = append(cases, struct {
			args   []string
			status int
			want   string
		}{nil, 1, "no /dev/kvm"})
	}
	for _, c := range cases {
		st, out, stderr := kerneltest.Run(t, 30*time.Second, kerneltest.Command("kvmtrace", c.args...))
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if st != c.status || len(lines) != 1 || !strings.Contains(lines[0], c.want) || !strings.HasPrefix(lines[0], "kvmtrace: ") || out != "" {
			t.Errorf("kvmtrace %v: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", c.args, st, out, stderr, c.status, c.want)
		}
	}
}

func TestResolveReasons(t *testing.T) {
	exits, user := kvm.BuiltinExitReasons(), kvm.BuiltinUserspaceExits()
	f, err := ResolveReasons([]string{"hlt", "VMCALL", "0x7b", "io", "KVM_EXIT_MMIO"}, exits, user)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint32{{kvm.ISAVMX, 12}, {kvm.ISASVM, 0x78}, {kvm.ISAVMX, 18}, {kvm.ISAVMX, 0x7b}, {kvm.ISASVM, 0x7b}}
	if len(f.Exits) != len(want) {
		t.Fatalf("exits %v, want %v", f.Exits, want)
	}
	for i := range want {
		if f.Exits[i] != want[i] {
			t.Errorf("exit %d: %v, want %v", i, f.Exits[i], want[i])
		}
	}
	if len(f.Userspace) != 1 || f.Userspace[0] != 6 {
		t.Errorf("userspace %v", f.Userspace)
	}
	for _, bad := range [][]string{{"nonsense"}, {"KVM_EXIT_NOPE"}} {
		if _, err := ResolveReasons(bad, exits, user); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	var many []string
	for i := range 17 {
		many = append(many, strconv.Itoa(i+100))
	}
	if _, err := ResolveReasons(many, exits, user); err == nil {
		t.Error("17 numbers: no error")
	}
}

// The BPF object loads and attaches wherever the kvm tracepoints exist,
// with or without /dev/kvm.
func TestLoadsOnThisKernel(t *testing.T) {
	kerneltest.Root(t)
	if _, err := kvm.ReadFormat("kvm", "kvm_exit"); err != nil {
		t.Skipf("no kvm tracepoints: %v", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	layout, err := kvm.LoadLayout("kvm_exit", "kvm_entry", "kvm_hypercall", "kvm_userspace_exit", "kvm_pio")
	if err != nil {
		t.Fatal(err)
	}
	f := Filter{Exits: [][2]uint32{{kvm.ISAVMX, 12}, {kvm.ISASVM, 0x78}}, Userspace: []uint32{2}}
	for _, skip := range [][]string{{"kvm_userspace_exit", "kvm_pio", "sys_enter_ioctl"}, nil} {
		consts := constants(Config{PID: 1, VCPU: 0, Userspace: skip == nil}, f)
		for k, v := range layout.Constants {
			consts[k] = v
		}
		obj, err := loader.Open(Plan, loader.Options{Constants: consts, Skip: skip})
		if err != nil {
			t.Fatalf("skip %v: %v", skip, err)
		}
		if _, err := obj.OpenEvents(0); err != nil {
			t.Fatal(err)
		}
		obj.Close()
	}
}
