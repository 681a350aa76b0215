package kerneltest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

const toolEnv = "BPFSCOPE_TEST_RUN_TOOL"

// Tools maps tool names to their run functions, for RunTools.
type Tools map[string]cli.RunFunc

// RunTools is called from TestMain: when the test binary was started by
// StartTool, it runs the tool named in the environment and exits with its
// status; otherwise it runs the tests. The same binary is thus the tool
// under test, on the host and in the VM test alike.
func RunTools(m *testing.M, tools Tools) {
	if name := os.Getenv(toolEnv); name != "" {
		run, ok := tools[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "kerneltest: no tool %q\n", name)
			os.Exit(3)
		}
		os.Exit(cli.Main(name, run, cli.Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// Tool is a tool running as a child process.
type Tool struct {
	t      testing.TB
	Cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *lineBuffer
	done   chan struct{}
	err    error
}

// Command returns the command that runs tool with args, for tests that need
// to change it (credentials) before starting.
func Command(tool string, args ...string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), toolEnv+"="+tool)
	return cmd
}

// StartTool starts tool with args and returns once it has started (not
// once it is ready: use WaitStderr or WaitStdout for that). The tool is
// killed at the end of the test if still running.
func StartTool(t testing.TB, tool string, args ...string) *Tool {
	t.Helper()
	return Start(t, Command(tool, args...))
}

// Start starts a command made by Command.
func Start(t testing.TB, cmd *exec.Cmd) *Tool {
	t.Helper()
	tl := &Tool{t: t, Cmd: cmd, stdout: newLineBuffer(), stderr: newLineBuffer(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = tl.stdout, tl.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	go func() {
		tl.err = cmd.Wait()
		tl.stdout.close()
		tl.stderr.close()
		close(tl.done)
	}()
	t.Cleanup(func() {
		select {
		case <-tl.done:
		default:
			cmd.Process.Kill()
			<-tl.done
		}
	})
	return tl
}

// WaitStderr waits until a line of stderr contains s, failing the test if
// the tool exits or the timeout passes first.
func (tl *Tool) WaitStderr(s string, timeout time.Duration) {
	tl.t.Helper()
	if !tl.stderr.wait(s, timeout) {
		tl.t.Fatalf("tool did not print %q on stderr within %v\nstdout:\n%s\nstderr:\n%s", s, timeout, tl.Stdout(), tl.Stderr())
	}
}

// WaitStdout waits until a line of stdout contains s.
func (tl *Tool) WaitStdout(s string, timeout time.Duration) {
	tl.t.Helper()
	if !tl.stdout.wait(s, timeout) {
		tl.t.Fatalf("tool did not print %q on stdout within %v\nstdout:\n%s\nstderr:\n%s", s, timeout, tl.Stdout(), tl.Stderr())
	}
}

// Stop sends sig and waits for the tool to exit; it returns the exit status.
func (tl *Tool) Stop(sig syscall.Signal) int {
	tl.t.Helper()
	tl.Cmd.Process.Signal(sig)
	return tl.Wait(10 * time.Second)
}

// Wait waits for the tool to exit by itself and returns its exit status.
func (tl *Tool) Wait(timeout time.Duration) int {
	tl.t.Helper()
	select {
	case <-tl.done:
	case <-time.After(timeout):
		tl.Cmd.Process.Kill()
		<-tl.done
		tl.t.Fatalf("tool did not exit within %v\nstderr:\n%s", timeout, tl.Stderr())
	}
	var ee *exec.ExitError
	if errors.As(tl.err, &ee) {
		return ee.ExitCode()
	}
	if tl.err != nil {
		tl.t.Fatalf("wait: %v", tl.err)
	}
	return 0
}

// Stdout returns everything the tool printed on stdout so far.
func (tl *Tool) Stdout() string { return tl.stdout.String() }

// Stderr returns everything the tool printed on stderr so far.
func (tl *Tool) Stderr() string { return tl.stderr.String() }

// Run runs tool to completion with a timeout and returns its exit status,
// stdout and stderr.
func Run(t testing.TB, timeout time.Duration, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v", cmd, timeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return 0, stdout.String(), stderr.String()
}

// lineBuffer collects output and lets a test wait for a line.
type lineBuffer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	closed bool
}

func newLineBuffer() *lineBuffer {
	b := &lineBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.cond.Broadcast()
	return len(p), nil
}

func (b *lineBuffer) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lineBuffer) wait(s string, timeout time.Duration) bool {
	expired := false
	timer := time.AfterFunc(timeout, func() {
		b.mu.Lock()
		expired = true
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer timer.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		sc := bufio.NewScanner(strings.NewReader(b.buf.String()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), s) {
				return true
			}
		}
		if b.closed || expired {
			return false
		}
		b.cond.Wait()
	}
}

var _ io.Writer = (*lineBuffer)(nil)
