package compiler

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// TestCompileCounter checks the programs and sections of each attach mode
// without the kernel.
func TestCompileCounter(t *testing.T) {
	tps := []Target{{Kind: TargetTracepoint, Name: "sched:sched_switch"}, {Kind: TargetTracepoint, Name: "sched:sched_wakeup"}}
	kfs := []Target{{Kind: TargetKernel, Name: "vfs_read"}, {Kind: TargetKernel, Name: "vfs_write"}}
	ufs := []Target{{Kind: TargetUser, Name: "a", HostPath: "/x", Sites: []uint64{16}, RefCtr: []uint64{0}}}
	for _, tt := range []struct {
		targets  []Target
		mode     AttachMode
		sections []string
		attach   ebpf.AttachType
		cookie   bool
	}{
		{tps, AttachCookies, []string{"tracepoint/sched/sched_switch"}, 0, true},
		{tps, AttachPrograms, []string{"tracepoint/sched/sched_switch", "tracepoint/sched/sched_wakeup"}, 0, false},
		{kfs, AttachMulti, []string{"kprobe.multi"}, ebpf.AttachTraceKprobeMulti, true},
		{kfs, AttachCookies, []string{"kprobe"}, 0, true},
		{kfs, AttachPrograms, []string{"kprobe/vfs_read", "kprobe/vfs_write"}, 0, false},
		{ufs, AttachMulti, []string{"uprobe.multi"}, ebpf.AttachTraceUprobeMulti, true},
		{ufs, AttachCookies, []string{"uprobe"}, 0, true},
		{ufs, AttachPrograms, []string{"uprobe"}, 0, false},
	} {
		c, err := CompileCounter(tt.targets, CounterOptions{Mode: tt.mode, PID: 42})
		if err != nil {
			t.Errorf("%s %s: %v", tt.targets[0].Kind, tt.mode, err)
			continue
		}
		var sections []string
		for _, name := range c.Programs {
			ps := c.Spec.Programs[name]
			sections = append(sections, ps.SectionName)
			if ps.AttachType != tt.attach {
				t.Errorf("%s %s: attach type %v, want %v", tt.targets[0].Kind, tt.mode, ps.AttachType, tt.attach)
			}
		}
		if strings.Join(sections, " ") != strings.Join(tt.sections, " ") {
			t.Errorf("%s %s: sections %v, want %v", tt.targets[0].Kind, tt.mode, sections, tt.sections)
		}
		l := c.Listing()
		if strings.Contains(l, "bpf_get_attach_cookie") != tt.cookie || !strings.Contains(l, "if r1 != 0x2a goto") {
			t.Errorf("%s %s: listing:\n%s", tt.targets[0].Kind, tt.mode, l)
		}
		if m := c.Spec.Maps[CounterMap]; m.Type != ebpf.PerCPUArray || int(m.MaxEntries) != len(tt.targets) {
			t.Errorf("%s %s: map %v", tt.targets[0].Kind, tt.mode, m)
		}
	}
	for _, bad := range []struct {
		targets []Target
		mode    AttachMode
		want    string
	}{
		{tps, AttachMulti, "tracepoints have no multi-attach link"},
		{nil, AttachCookies, "no targets"},
		{append(tps[:1:1], kfs[0]), AttachCookies, "targets of different kinds"},
		{[]Target{{Kind: TargetUSDT, Name: "x"}}, AttachCookies, "no call sites"},
		{tps, "fast", `attach mode "fast"`},
	} {
		if _, err := CompileCounter(bad.targets, CounterOptions{Mode: bad.mode}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v %s: error %v, want ...%s...", bad.targets, bad.mode, err, bad.want)
		}
	}
}

func expand(t *testing.T, pattern string, regex bool) []Target {
	t.Helper()
	p, err := probespec.ParsePattern(pattern, regex)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := Expand(p, ExpandOptions{})
	if err != nil {
		t.Fatalf("%s: %v", pattern, err)
	}
	return ts
}

func names(ts []Target) string {
	var ns []string
	for _, t := range ts {
		ns = append(ns, t.Name)
	}
	return strings.Join(ns, " ")
}

// TestExpand expands tracepoint and user function patterns on this kernel
// and this test binary.
func TestExpand(t *testing.T) {
	kerneltest.Root(t)
	if got := names(expand(t, "t:syscalls:sys_enter_getp*", false)); !strings.Contains(got, "syscalls:sys_enter_getpgid syscalls:sys_enter_getpgrp syscalls:sys_enter_getpid syscalls:sys_enter_getppid") {
		t.Errorf("t:syscalls:sys_enter_getp*: %s", got)
	}
	if got := names(expand(t, "t:sys.*:sys_(enter|exit)_getpp?id$", true)); got != "syscalls:sys_enter_getpid syscalls:sys_enter_getppid syscalls:sys_exit_getpid syscalls:sys_exit_getppid" {
		t.Errorf("-r: %s", got)
	}
	ts := expand(t, funcs(t)+":*", false)
	if names(ts) != "_start add6 pair_sum" || ts[0].Kind != TargetUser || len(ts[0].Sites) != 1 || ts[0].Sites[0] == ts[1].Sites[0] {
		t.Errorf("%+v", ts)
	}
	p, _ := probespec.ParsePattern(funcs(t)+":*", false)
	if _, err := Expand(p, ExpandOptions{Max: 2}); err == nil || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("too many: %v", err)
	}
	p, _ = probespec.ParsePattern("t:nosuch:*", false)
	if _, err := Expand(p, ExpandOptions{}); err == nil || !strings.Contains(err.Error(), ErrNoMatch.Error()) {
		t.Errorf("no match: %v", err)
	}
}

// TestCounter counts this process's getppid and getpgid system calls and
// the calls of testdata/funcs's functions in runs of it, exactly, in every
// attach mode the kernel has.
func TestCounter(t *testing.T) {
	kerneltest.Root(t)
	pid := os.Getpid()
	for _, tt := range []struct {
		pattern string
		modes   []AttachMode
		run     func()
		want    []uint64
	}{
		// Not getpid, which the Go runtime calls (signals to threads).
		{"t:syscalls:sys_enter_getp(p|g)id$", []AttachMode{AttachCookies, AttachPrograms}, func() {
			for range 3 {
				unix.Getppid()
			}
			for range 5 {
				unix.Getpgid(0)
			}
		}, nil},
		// Not getppid: 6.9+ inlines it into the syscall switch.
		{"__x64_sys_getsid", []AttachMode{AttachMulti, AttachCookies, AttachPrograms}, func() {
			for range 3 {
				unix.Getsid(0)
			}
			for range 5 {
				unix.Getpgid(0)
			}
		}, nil},
		{funcs(t) + ":*", []AttachMode{AttachMulti, AttachCookies, AttachPrograms}, func() {
			for range 3 {
				exec.Command(funcs(t)).Run() // exits 28
			}
		}, []uint64{3, 3, 3}},
	} {
		if !strings.Contains(tt.pattern, ":") && loader.Have(loader.Kprobes) != nil {
			t.Run("kprobe", func(t *testing.T) { kerneltest.Need(t, loader.Kprobes) })
			continue
		}
		targets := expand(t, tt.pattern, strings.HasSuffix(tt.pattern, "$"))
		if tt.pattern == "__x64_sys_getsid" {
			targets = append(targets, expand(t, "__x64_sys_getpgid", false)...)
		}
		if tt.want == nil {
			tt.want = make([]uint64, len(targets))
			for i, tg := range targets {
				tt.want[i] = map[string]uint64{"syscalls:sys_enter_getppid": 3, "syscalls:sys_enter_getpgid": 5, "__x64_sys_getsid": 3, "__x64_sys_getpgid": 5}[tg.Name]
			}
		}
		for _, mode := range tt.modes {
			t.Run(targets[0].Kind.String()+"/"+string(mode), func(t *testing.T) {
				if _, err := ChooseAttachMode(targets[0].Kind, mode); err != nil {
					kerneltest.Need(t, loader.Cookies, map[TargetKind]loader.Feature{TargetUser: loader.UprobeMulti, TargetKernel: loader.KprobeMulti, TargetTracepoint: loader.Cookies}[targets[0].Kind])
					t.Fatal(err)
				}
				if targets[0].Kind == TargetUser {
					pid = 0 // every run of funcs
				}
				obj, c, err := OpenCounter(targets, CounterOptions{PID: pid, Mode: mode}, LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer obj.Close()
				if c.Mode != mode {
					t.Errorf("mode %s, want %s", c.Mode, mode)
				}
				runtime.LockOSThread()
				tt.run()
				runtime.UnlockOSThread()
				got, err := c.Counts(obj)
				if err != nil {
					t.Fatal(err)
				}
				if !slicesEqual(got, tt.want) {
					t.Errorf("counts %v, want %v (targets %s)", got, tt.want, names(targets))
				}
			})
		}
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
