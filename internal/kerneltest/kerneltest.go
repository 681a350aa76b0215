// Package kerneltest is what bpfscope's kernel tests share: skipping (or,
// under BPFSCOPE_TEST_STRICT=1, failing) when privileges or kernel features
// are missing, running a tool as a child process of the test binary, and
// checking that nothing a tool attached outlives it.
//
// Environment:
//
//	BPFSCOPE_TEST_STRICT=1           a skip for missing privileges or features fails the test
//	BPFSCOPE_TEST_ABSENT=kprobes,... features this kernel is known to lack: their tests skip
//	                                 even in strict mode, and fail if the feature turns up
package kerneltest

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/rlimit"

	"github.com/bpfscope/bpfscope/pkg/loader"
)

// Strict reports whether skips for missing privileges or features fail.
func Strict() bool { return os.Getenv("BPFSCOPE_TEST_STRICT") == "1" }

// declaredAbsent returns the features BPFSCOPE_TEST_ABSENT lists.
func declaredAbsent() []loader.Feature {
	var fs []loader.Feature
	for _, f := range strings.Split(os.Getenv("BPFSCOPE_TEST_ABSENT"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			fs = append(fs, loader.Feature(f))
		}
	}
	return fs
}

// skip skips, or fails in strict mode.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("BPFSCOPE_TEST_STRICT=1 and "+format, args...)
	}
	t.Skipf(format, args...)
}

// Root skips the test unless it may load and attach BPF programs.
func Root(t testing.TB) {
	t.Helper()
	if err := loader.CheckPrivileges(); err != nil {
		skip(t, "kernel test needs privileges: %v", err)
	}
	if err := loader.CheckBTF(); err != nil {
		skip(t, "kernel test needs BTF: %v", err)
	}
	// Tests create maps outside pkg/loader too; before 5.11 those count
	// against RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatalf("raise memlock limit: %v", err)
	}
}

// Need skips the test unless the kernel has every feature fs; it implies
// Root. A feature declared absent (BPFSCOPE_TEST_ABSENT) skips even in strict
// mode, and a declared-absent feature that is present fails the test, so that
// the declaration stays true.
func Need(t testing.TB, fs ...loader.Feature) {
	t.Helper()
	Root(t)
	absent := declaredAbsent()
	for _, f := range fs {
		err := loader.Have(f)
		declared := slices.Contains(absent, f)
		switch {
		case err == nil && declared && Strict():
			t.Fatalf("BPFSCOPE_TEST_ABSENT lists %s but this kernel has it", f)
		case err == nil:
		case declared || !errors.Is(err, loader.ErrNotSupported):
			t.Skipf("kernel lacks %s (declared absent): %v", f, err)
		default:
			skip(t, "kernel lacks %s: %v", f, err)
		}
	}
}
