package kvmexit

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/internal/kvm"
	"github.com/bpfscope/bpfscope/internal/kvmguest"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{
		"kvmexit":         Main,
		"kvmexit-nodev":   hideAndRun("/dev"),
		"kvmexit-notrace": hideAndRun("/sys/kernel/tracing/events"),
	})
}

// hideAndRun runs kvmexit with an empty tmpfs over dir, in a mount
// namespace of its own thread: how the tests make a machine without
// /dev/kvm or without kvm tracepoints.
func hideAndRun(dir string) cli.RunFunc {
	return func(ctx context.Context, env cli.Env) error {
		runtime.LockOSThread() // the namespace is this thread's: stay on it
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make / private: %w", err)
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
		}
		return Main(ctx, env)
	}
}

// newGuest creates a guest in the test process, which thereby becomes a
// VMM; its vCPU threads wait for Run.
func newGuest(t *testing.T, cfg kvmguest.Config) *kvmguest.Guest {
	t.Helper()
	g, err := kvmguest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// traceGuest starts kvmexit with args, runs the guest once the tool is
// attached, stops the tool and returns the guest's result and the tool's
// output.
func traceGuest(t *testing.T, g *kvmguest.Guest, args ...string) (*kvmguest.Result, string, string) {
	t.Helper()
	tl := kerneltest.StartTool(t, "kvmexit", args...)
	tl.WaitStdout("Display kvm", 30*time.Second)
	res, err := g.Run()
	if err != nil {
		t.Fatalf("guest: %v", err)
	}
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("kvmexit %v: exit %d\nstderr:\n%s", args, st, tl.Stderr())
	}
	return res, tl.Stdout(), tl.Stderr()
}

// parseTable reads kvmexit's table into counts keyed by the row's columns
// before COUNT, joined by spaces ("REASON", "TID REASON", "PID TID REASON").
func parseTable(t *testing.T, out string) map[string]uint64 {
	t.Helper()
	rows := map[string]uint64{}
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "KVM_EXIT_REASON") && strings.HasSuffix(strings.TrimSpace(line), "COUNT") {
			in = true
			continue
		}
		f := strings.Fields(line)
		if !in || len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("bad row %q", line)
		}
		rows[strings.Join(f[:len(f)-1], " ")] += n
	}
	if !in {
		t.Fatalf("no table in output:\n%s", out)
	}
	return rows
}

func ioName(port uint16) string { return fmt.Sprintf("KVM_EXIT_IO out port %#x size 1", port) }

func TestUserspaceCountsExact(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	cfg := kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 50}
	pid := strconv.Itoa(os.Getpid())

	t.Run("per-pid", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g, "--userspace", "-p", pid)
		rows := parseTable(t, out)
		want := map[string]uint64{"KVM_EXIT_HLT": 100}
		for _, v := range res.VCPUs {
			want[ioName(v.Port)] = uint64(v.IO)
		}
		assertRows(t, out, rows, want)
		if res.Exits(kvmguest.ExitIO) != 300 || res.Exits(kvmguest.ExitHLT) != 100 {
			t.Errorf("guest made %d IO and %d HLT exits, want 300 and 100", res.Exits(kvmguest.ExitIO), res.Exits(kvmguest.ExitHLT))
		}
	})
	t.Run("alltids", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g, "--userspace", "-p", pid, "-a")
		want := map[string]uint64{}
		for _, v := range res.VCPUs {
			want[fmt.Sprintf("%d %s", v.TID, ioName(v.Port))] = uint64(v.IO)
			want[fmt.Sprintf("%d KVM_EXIT_HLT", v.TID)] = uint64(v.HLT)
		}
		assertRows(t, out, parseTable(t, out), want)
	})
	t.Run("vcpu", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g, "--userspace", "-p", pid, "-v", "1")
		v := res.VCPUs[1]
		assertRows(t, out, parseTable(t, out), map[string]uint64{ioName(v.Port): uint64(v.IO), "KVM_EXIT_HLT": uint64(v.HLT)})
	})
	t.Run("tid", func(t *testing.T) {
		g := newGuest(t, cfg)
		tid := g.TIDs()[0]
		res, out, _ := traceGuest(t, g, "--userspace", "-t", strconv.Itoa(tid))
		v := res.VCPUs[0]
		assertRows(t, out, parseTable(t, out), map[string]uint64{ioName(v.Port): uint64(v.IO), "KVM_EXIT_HLT": uint64(v.HLT)})
	})
	t.Run("tids", func(t *testing.T) {
		g := newGuest(t, kvmguest.Config{VCPUs: 3, Outs: 2, Iterations: 10})
		tids := g.TIDs()
		res, out, _ := traceGuest(t, g, "--userspace", "-T", fmt.Sprintf("%d,%d", tids[0], tids[2]))
		want := map[string]uint64{}
		for _, v := range []kvmguest.VCPU{res.VCPUs[0], res.VCPUs[2]} {
			want[fmt.Sprintf("%d %s", v.TID, ioName(v.Port))] = uint64(v.IO)
			want[fmt.Sprintf("%d KVM_EXIT_HLT", v.TID)] = uint64(v.HLT)
		}
		assertRows(t, out, parseTable(t, out), want)
	})
}

// assertRows checks that rows are exactly want.
func assertRows(t *testing.T, out string, rows, want map[string]uint64) {
	t.Helper()
	for k, n := range want {
		if rows[k] != n {
			t.Errorf("row %q: count %d, want %d", k, rows[k], n)
		}
	}
	for k := range rows {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected row %q", k)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// exitNames are the names of the guest's hardware exits for VMX and SVM.
var (
	ioExitNames  = map[string]bool{"IO_INSTRUCTION": true, "io": true}
	hltExitNames = map[string]bool{"HLT": true, "hlt": true}
)

// sumByName adds the rows whose reason (the last columns) is in names,
// per key prefix (the columns before the reason).
func sumByName(rows map[string]uint64, names map[string]bool) map[string]uint64 {
	out := map[string]uint64{}
	for k, n := range rows {
		f := strings.Fields(k)
		reason := f[len(f)-1]
		if names[reason] {
			out[strings.Join(f[:len(f)-1], " ")] += n
		}
	}
	return out
}

func TestExitCounts(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM, kerneltest.KVMExit)
	pid := strconv.Itoa(os.Getpid())
	cfg := kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 20}

	t.Run("per-pid", func(t *testing.T) {
		g := newGuest(t, cfg)
		_, out, stderr := traceGuest(t, g, "-p", pid)
		t.Logf("kvmexit -p:\n%s", out)
		rows := parseTable(t, out)
		if io, hlt := sumByName(rows, ioExitNames)[""], sumByName(rows, hltExitNames)[""]; io != 120 || hlt != 40 {
			t.Errorf("io %d, hlt %d exits: want 120 and 40\n%s", io, hlt, out)
		}
		if strings.Contains(stderr, "never fired") {
			t.Errorf("silent-exit note where kvm_exit fires: %s", stderr)
		}
	})
	t.Run("alltids", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g, "-p", pid, "-a")
		rows := parseTable(t, out)
		io, hlt := sumByName(rows, ioExitNames), sumByName(rows, hltExitNames)
		for _, v := range res.VCPUs {
			tid := strconv.Itoa(v.TID)
			if io[tid] != uint64(v.IO) || hlt[tid] != uint64(v.HLT) {
				t.Errorf("tid %s: io %d hlt %d, want %d and %d\n%s", tid, io[tid], hlt[tid], v.IO, v.HLT, out)
			}
		}
	})
	t.Run("all-threads", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g)
		rows := parseTable(t, out)
		io, hlt := sumByName(rows, ioExitNames), sumByName(rows, hltExitNames)
		for _, v := range res.VCPUs {
			k := fmt.Sprintf("%d %d", res.PID, v.TID)
			if io[k] != uint64(v.IO) || hlt[k] != uint64(v.HLT) {
				t.Errorf("%s: io %d hlt %d, want %d and %d\n%s", k, io[k], hlt[k], v.IO, v.HLT, out)
			}
		}
	})
	t.Run("vcpu", func(t *testing.T) {
		g := newGuest(t, cfg)
		res, out, _ := traceGuest(t, g, "-p", pid, "-v", "1")
		rows := parseTable(t, out)
		v := res.VCPUs[1]
		if io, hlt := sumByName(rows, ioExitNames)[""], sumByName(rows, hltExitNames)[""]; io != uint64(v.IO) || hlt != uint64(v.HLT) {
			t.Errorf("vcpu 1: io %d hlt %d, want %d and %d\n%s", io, hlt, v.IO, v.HLT, out)
		}
	})
}

// parseHistTotals sums the counts of each "exit reason = NAME" section.
func parseHistTotals(t *testing.T, out string) map[string]uint64 {
	t.Helper()
	totals := map[string]uint64{}
	section := ""
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "exit reason = "); ok {
			section = name
			continue
		}
		_, rest, ok := strings.Cut(line, " : ")
		if !ok || section == "" || strings.Contains(line, "distribution") {
			continue
		}
		f := strings.Fields(rest)
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			t.Fatalf("bad histogram line %q", line)
		}
		totals[section] += n
	}
	return totals
}

func TestLatency(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM, kerneltest.KVMExit)
	g := newGuest(t, kvmguest.Config{VCPUs: 2, Outs: 3, Iterations: 20})
	res, out, _ := traceGuest(t, g, "-L", "-p", strconv.Itoa(os.Getpid()))
	t.Logf("kvmexit -L:\n%s", out)
	totals := parseHistTotals(t, out)
	var io, hlt uint64
	for name, n := range totals {
		switch {
		case ioExitNames[name]:
			io += n
		case hltExitNames[name]:
			hlt += n
		}
	}
	// Every exit is timed up to the next entry; the last HLT of each vCPU
	// has none (the guest is not run again).
	wantIO := uint64(res.Exits(kvmguest.ExitIO))
	wantHLT := uint64(res.Exits(kvmguest.ExitHLT) - len(res.VCPUs))
	if io != wantIO || hlt != wantHLT {
		t.Errorf("histograms count %d io and %d hlt exits, want %d and %d", io, hlt, wantIO, wantHLT)
	}
}

func TestSilentExitNote(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	if kerneltest.HaveKVM(kerneltest.KVMExit) == nil {
		t.Skip("kvm_exit fires on this KVM backend: nothing to notice")
	}
	for _, args := range [][]string{{"-p", strconv.Itoa(os.Getpid())}, {"-L", "-p", strconv.Itoa(os.Getpid())}} {
		g := newGuest(t, kvmguest.Config{Outs: 3, Iterations: 5})
		_, out, stderr := traceGuest(t, g, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "kvm:kvm_exit never fired") || !strings.Contains(lines[0], "20 exits to userspace") {
			t.Errorf("kvmexit %v: stderr %q, want one line about kvm_exit never firing after 20 exits to userspace", args, stderr)
		}
		t.Logf("kvmexit %v:\n%s%s", args, out, stderr)
	}
}

func TestReleasedOnExit(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	g := newGuest(t, kvmguest.Config{})
	for _, args := range [][]string{
		{"--userspace", "-p", strconv.Itoa(os.Getpid()), "-v", "0"},
		{"-L"},
		{},
	} {
		tl := kerneltest.StartTool(t, "kvmexit", args...)
		tl.WaitStdout("Display kvm", 30*time.Second)
		objs, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs.Programs) == 0 || len(objs.Links)+objs.Perf == 0 {
			t.Fatalf("kvmexit %v holds no programs or links: %+v", args, objs)
		}
		if st := tl.Stop(syscall.SIGINT); st != 0 {
			t.Fatalf("kvmexit %v: exit %d: %s", args, st, tl.Stderr())
		}
		kerneltest.AssertReleased(t, objs)
	}
	_ = g
}

func TestDuration(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	start := time.Now()
	st, out, stderr := kerneltest.Run(t, 30*time.Second, kerneltest.Command("kvmexit", "1"))
	if st != 0 {
		t.Fatalf("exit %d: %s", st, stderr)
	}
	if !strings.HasPrefix(out, "Display kvm exit reasons and statistics for all threads after sleeping 1 secs.\n") {
		t.Errorf("output:\n%s", out)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestBadInput(t *testing.T) {
	kerneltest.Root(t)
	g := newGuestIfKVM(t)
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		name   string
		tool   string
		args   []string
		status int
		want   string
	}{
		{"vcpu without pid", "kvmexit", []string{"-v", "0"}, 2, "-v VCPU needs -p PID"},
		{"alltids without pid", "kvmexit", []string{"-a"}, 2, "-a needs -p PID"},
		{"tid and tids", "kvmexit", []string{"-t", "1", "-T", "2,3"}, 2, "exclude each other"},
		{"bad tids", "kvmexit", []string{"-T", "1, 2"}, 2, "must be valid integer"},
		{"bad duration", "kvmexit", []string{"0"}, 2, "duration"},
		{"two positionals", "kvmexit", []string{"1", "2"}, 2, "too many arguments"},
		{"no such pid", "kvmexit", []string{"-p", "999999999"}, 2, "no such process"},
		{"latency and userspace", "kvmexit", []string{"-L", "--userspace"}, 2, "exclude each other"},
		{"no /dev/kvm", "kvmexit-nodev", nil, 1, "no /dev/kvm"},
	}
	if CheckKVM() == nil {
		// Without /dev/kvm, that is what kvmexit reports first.
		cases = append(cases, struct {
			name   string
			tool   string
			args   []string
			status int
			want   string
		}{"no kvm tracepoints", "kvmexit-notrace", nil, 1, "no kvm tracepoints"})
	}
	if g != nil || kvmguest.Available() == nil {
		cases = append(cases,
			struct {
				name   string
				tool   string
				args   []string
				status int
				want   string
			}{"pid not a VMM", "kvmexit", []string{"-p", "1"}, 2, "pid 1 is not a KVM VMM"})
	}
	if g != nil {
		cases = append(cases,
			struct {
				name   string
				tool   string
				args   []string
				status int
				want   string
			}{"no such vcpu", "kvmexit", []string{"-p", self, "-v", "7"}, 2, "no vCPU 7 for PID"},
			struct {
				name   string
				tool   string
				args   []string
				status int
				want   string
			}{"tid not in pid", "kvmexit", []string{"-p", self, "-t", "1"}, 2, "not a thread of pid"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, out, stderr := kerneltest.Run(t, 30*time.Second, kerneltest.Command(c.tool, c.args...))
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if st != c.status || len(lines) != 1 || !strings.Contains(lines[0], c.want) || !strings.HasPrefix(lines[0], c.tool+": ") {
				t.Errorf("kvmexit %v: exit %d, stderr %q; want exit %d and one line with %q", c.args, st, stderr, c.status, c.want)
			}
			if out != "" {
				t.Errorf("kvmexit %v: stdout %q", c.args, out)
			}
		})
	}
}

// newGuestIfKVM makes the test process a VMM where KVM works.
func newGuestIfKVM(t *testing.T) *kvmguest.Guest {
	if kvmguest.Available() != nil {
		return nil
	}
	return newGuest(t, kvmguest.Config{VCPUs: 2})
}

// The reason tables are the running kernel's where tracefs has them.
func TestNamesFromRunningKernel(t *testing.T) {
	kerneltest.NeedKVM(t, kerneltest.KVM)
	r, err := kvm.LoadExitReasons()
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "tracefs" {
		t.Errorf("source %q", r.Source)
	}
}

// The BPF object loads and attaches in every mode wherever the kvm
// tracepoints exist, with or without /dev/kvm (e.g. kvm.ko without a
// vendor module in a VM test).
func TestLoadsOnThisKernel(t *testing.T) {
	kerneltest.Root(t)
	if _, err := kvm.ReadFormat("kvm", "kvm_exit"); err != nil {
		t.Skipf("no kvm tracepoints: %v", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{VCPU: -1},
		{VCPU: -1, Latency: true},
		{VCPU: -1, Userspace: true},
		{VCPU: 0, PID: 1, Userspace: true, TIDs: []int{1, 2}},
	} {
		m := cfg.mode()
		layout, err := kvm.LoadLayout(m.events()...)
		if err != nil {
			t.Fatal(err)
		}
		consts := cfg.constants()
		for k, v := range layout.Constants {
			consts[k] = v
		}
		obj, err := loader.Open(Plan, loader.Options{Constants: consts, Skip: m.skip(cfg.VCPU >= 0)})
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		objs, _ := kerneltest.HeldBy(os.Getpid())
		obj.Close()
		t.Logf("%+v: loaded (%d programs held)", cfg, len(objs.Programs))
	}
}
