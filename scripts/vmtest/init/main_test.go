//go:build linux

package main

import (
	"slices"
	"testing"
	"time"
)

func TestSplitCmdline(t *testing.T) {
	got := splitCmdline(`console=ttyS0  "bpfscope.run=TestA|TestB$" bpfscope.skip="a b" quiet` + "\n")
	want := []string{"console=ttyS0", "bpfscope.run=TestA|TestB$", "bpfscope.skip=a b", "quiet"}
	if !slices.Equal(got, want) {
		t.Errorf("splitCmdline = %q, want %q", got, want)
	}
}

func TestParseCmdline(t *testing.T) {
	cfg, err := parseCmdline(`console=ttyS0 panic=-1 quiet bpfscope.label=5.10 ` +
		`bpfscope.absent=cookies,uprobe_multi bpfscope.strict=1 bpfscope.timeout=90s ` +
		`"bpfscope.run=TestX|TestY" bpfscope.short=1 bpfscope.modules=irqbypass,kvm,kvm-amd ` +
		`kvm_amd.nested=1 kvm-amd.npt=0 bpfscope.env.FOO=bar`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.label != "5.10" || cfg.absent != "cookies,uprobe_multi" || !cfg.strict ||
		cfg.timeout != 90*time.Second || cfg.run != "TestX|TestY" || !cfg.short {
		t.Errorf("parsed %+v", cfg)
	}
	if want := []string{"irqbypass", "kvm", "kvm-amd"}; !slices.Equal(cfg.modules, want) {
		t.Errorf("modules %q, want %q", cfg.modules, want)
	}
	if want := []string{"nested=1", "npt=0"}; !slices.Equal(cfg.params["kvm_amd"], want) {
		t.Errorf("kvm_amd params %q, want %q", cfg.params["kvm_amd"], want)
	}
	if want := []string{"FOO=bar"}; !slices.Equal(cfg.env, want) {
		t.Errorf("env %q, want %q", cfg.env, want)
	}
	env := testEnv(cfg, "5.10.0-46-amd64")
	for _, kv := range []string{"BPFSCOPE_IN_VM=1", "BPFSCOPE_TEST_STRICT=1",
		"BPFSCOPE_TEST_ABSENT=cookies,uprobe_multi", "BPFSCOPE_VM_MODULES=irqbypass,kvm,kvm-amd", "FOO=bar"} {
		if !slices.Contains(env, kv) {
			t.Errorf("environment %q lacks %s", env, kv)
		}
	}
}

func TestParseCmdlineErrors(t *testing.T) {
	for _, s := range []string{"bpfscope.timeout=soon", "bpfscope.typo=1"} {
		if _, err := parseCmdline(s); err == nil {
			t.Errorf("parseCmdline(%q): no error", s)
		}
	}
	cfg, err := parseCmdline("bpfscope.strict=0")
	if err != nil || cfg.strict {
		t.Errorf("bpfscope.strict=0: strict=%v, %v", cfg.strict, err)
	}
}
