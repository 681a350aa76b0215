package trace

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

// TestKernelFunctions traces the kernel function behind open(2), entry and
// return, through each backend the kernel has: bcc's
// `trace 'do_sys_open "%s", arg2'` and `trace 'r::do_sys_open "%d", retval'`
// (do_sys_openat2 since 5.6). It runs in the VM test (this host has no
// kprobes or fentry).
func TestKernelFunctions(t *testing.T) {
	kerneltest.Root(t)
	for _, tt := range []struct {
		backend string
		need    loader.Feature
	}{
		{"fentry", loader.Fentry},
		{"kprobe", loader.Kprobes},
	} {
		t.Run(tt.backend, func(t *testing.T) {
			kerneltest.Need(t, tt.need)
			const n = 5
			tl := kerneltest.StartTool(t, "trace", "-v", "--backend", tt.backend, "-p", itoa(os.Getpid()),
				`do_sys_openat2 "%s", arg2`,
				`r::do_sys_openat2 (retval == -2) "ret %d", retval`)
			tl.WaitStdout("PID", 60*time.Second)
			var want []string
			for i := range n {
				name := fmt.Sprintf("/nonexistent/trace-test-%d", i)
				if _, err := os.Open(name); err == nil {
					t.Fatalf("%s exists", name)
				}
				want = append(want, name)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(messages(parseLines(t, tl.Stdout()), "do_sys_openat2")) < 2*n && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			if st := tl.Stop(syscall.SIGINT); st != 0 {
				t.Fatalf("exit %d: %s", st, tl.Stderr())
			}
			t.Logf("output:\n%s", tl.Stdout()[strings.Index(tl.Stdout(), "PID     TID"):])
			if !strings.Contains(tl.Stderr(), "backend "+tt.backend) {
				t.Errorf("stderr %q does not name backend %s", tl.Stderr(), tt.backend)
			}
			var opens, rets []string
			for _, m := range messages(parseLines(t, tl.Stdout()), "do_sys_openat2") {
				if strings.HasPrefix(m, "ret ") {
					rets = append(rets, m)
				} else if strings.Contains(m, "trace-test-") {
					opens = append(opens, m)
				}
			}
			if !slices.Equal(opens, want) {
				t.Errorf("opens %q, want %q\n%s", opens, want, tl.Stdout())
			}
			if len(rets) != n || rets[0] != "ret -2" {
				t.Errorf("returns %q, want %d of \"ret -2\"", rets, n)
			}
		})
	}
}
