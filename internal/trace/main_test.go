package trace

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"trace": Main, "spin": spin})
}

// classicPath is the test program (testdata/classic.c) as an absolute path.
func classicPath(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("testdata/classic")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// classic is testdata/classic running, waiting for "go".
type classic struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// startClassic starts testdata/classic n and waits until it is ready. It
// exits when the test ends (its stdin is closed).
func startClassic(t testing.TB, n int) *classic {
	t.Helper()
	cmd := exec.Command(classicPath(t), itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start classic: %v", err)
	}
	c := &classic{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	c.expect(t, "ready")
	return c
}

// expect waits for a line from the program.
func (c *classic) expect(t testing.TB, want string) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		l, _ := c.stdout.ReadString('\n')
		got <- strings.TrimSpace(l)
	}()
	select {
	case l := <-got:
		if l != want {
			t.Fatalf("classic printed %q, want %q", l, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("classic did not print %q", want)
	}
}

// run lets the program do its work and waits until it has.
func (c *classic) run(t testing.TB) {
	t.Helper()
	io.WriteString(c.stdin, "go\n")
	c.expect(t, "done")
}

func (c *classic) pid() int { return c.cmd.Process.Pid }
