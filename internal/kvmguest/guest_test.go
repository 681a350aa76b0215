package kvmguest_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	. "github.com/bpfscope/bpfscope/internal/kvmguest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"kvmguest": Main})
}

// needKVM skips without a usable /dev/kvm (not a kernel feature the loader
// probes: a machine without virtualization is a plain skip).
func needKVM(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no KVM: %v", err)
	}
}

func TestGuestCountsItsExits(t *testing.T) {
	needKVM(t)
	for _, cfg := range []Config{
		{VCPUs: 1, Outs: 3, Iterations: 1},
		{VCPUs: 1, Outs: 3, Iterations: 100},
		{VCPUs: 3, Outs: 5, Iterations: 20, Port: 0x300},
	} {
		res, err := Run(cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if res.PID != os.Getpid() || len(res.VCPUs) != cfg.VCPUs {
			t.Fatalf("%+v: result %+v", cfg, res)
		}
		port := cfg.Port
		if port == 0 {
			port = DefaultPort
		}
		tids := map[int]bool{}
		for i, v := range res.VCPUs {
			if v.ID != i || v.Port != port+uint16(i) {
				t.Errorf("%+v: vcpu %d: id %d port %#x", cfg, i, v.ID, v.Port)
			}
			if v.IO != cfg.Outs*cfg.Iterations || v.HLT != cfg.Iterations {
				t.Errorf("%+v: vcpu %d: %d IO, %d HLT exits, want %d and %d", cfg, i, v.IO, v.HLT, cfg.Outs*cfg.Iterations, cfg.Iterations)
			}
			if v.Exits[ExitIO] != v.IO || v.Exits[ExitHLT] != v.HLT {
				t.Errorf("%+v: vcpu %d: exits %v", cfg, i, v.Exits)
			}
			if v.TID <= 0 || tids[v.TID] {
				t.Errorf("%+v: vcpu %d: tid %d", cfg, i, v.TID)
			}
			tids[v.TID] = true
		}
		t.Logf("%+v: %d IO and %d HLT exits, tids %v", cfg, res.Exits(ExitIO), res.Exits(ExitHLT), tids)
	}
}

func TestGuestThreadsKnownBeforeRun(t *testing.T) {
	needKVM(t)
	g, err := New(Config{VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tid := range g.TIDs() {
		if _, err := os.Stat("/proc/self/task/" + itoa(tid)); err != nil {
			t.Errorf("vcpu thread %d: %v", tid, err)
		}
	}
	if _, err := g.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(); err == nil {
		t.Error("second Run did not fail")
	}
}

func TestGuestCloseWithoutRun(t *testing.T) {
	needKVM(t)
	g, err := New(Config{VCPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g.Close()
}

func TestGuestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{VCPUs: -1}, {VCPUs: 65}, {Outs: -1}, {Outs: 0x10000}, {Iterations: -2},
		{Port: 0xffff, VCPUs: 2}, {Port: 0x7e}, {Port: 0x7c, VCPUs: 4},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestGuestCommand(t *testing.T) {
	needKVM(t)
	tl := kerneltest.StartTool(t, "kvmguest", "--vcpus", "2", "--outs", "4", "--iterations", "5", "--wait")
	tl.WaitStdout("ready", 10*time.Second)
	tl.Cmd.Process.Signal(syscall.SIGUSR1)
	tl.WaitStdout("done", 10*time.Second)
	if st := tl.Wait(10 * time.Second); st != 0 {
		t.Fatalf("exit %d: %s", st, tl.Stderr())
	}
	out := tl.Stdout()
	for _, want := range []string{"port 0xe9", "port 0xea", "KVM_EXIT_IO 20 KVM_EXIT_HLT 5"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestCountTracepoints(t *testing.T) {
	needKVM(t)
	kerneltest.Root(t)
	res, counts, err := CountTracepoints(Config{VCPUs: 2, Outs: 3, Iterations: 10}, "kvm_exit", "kvm_entry", "kvm_userspace_exit", "kvm_pio")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tracepoint counts %v, guest exits IO %d HLT %d", counts, res.Exits(ExitIO), res.Exits(ExitHLT))
	if got, want := counts["kvm_userspace_exit"], uint64(res.Exits(ExitIO)+res.Exits(ExitHLT)); got != want {
		t.Errorf("kvm_userspace_exit fired %d times, want %d (the guest's exits to userspace)", got, want)
	}
	if got, want := counts["kvm_pio"], uint64(res.Exits(ExitIO)); got != want {
		t.Errorf("kvm_pio fired %d times, want %d", got, want)
	}
}
