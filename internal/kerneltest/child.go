package kerneltest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Child is a test program (usually a prebuilt one in the package's
// testdata) running as a child process that speaks in lines: it says
// "ready", then acts on lines written to its stdin and answers on stdout.
// It is stopped by closing its stdin when the test ends, and killed if it
// does not exit within 5 seconds.
type Child struct {
	t     testing.TB
	Cmd   *exec.Cmd
	Path  string // absolute (the command's, for StartChildCmd)
	PID   int
	in    io.WriteCloser
	lines chan string
}

// StartChild starts the program at path (relative to the package's
// directory, e.g. "testdata/classic") with args and waits for its "ready".
func StartChild(t testing.TB, path string, args ...string) *Child {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return StartChildCmd(t, exec.Command(abs, args...))
}

// StartChildCmd is StartChild for a command made otherwise, such as a
// helper of the test binary made by Command.
func StartChildCmd(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	c := &Child{t: t, Cmd: cmd, Path: cmd.Path, PID: cmd.Process.Pid, in: in, lines: make(chan string, 16)}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.lines <- s.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	c.Expect("ready")
	return c
}

// Read returns the child's next line, failing the test if it exits or
// says nothing for a minute.
func (c *Child) Read() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("%s (pid %d) exited", c.Path, c.PID)
		}
		return l
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s (pid %d) did not answer", c.Path, c.PID)
	}
	return ""
}

// Expect reads the child's next line and fails the test unless it is want.
func (c *Child) Expect(want string) {
	c.t.Helper()
	if l := c.Read(); l != want {
		c.t.Fatalf("%s said %q, want %q", c.Path, l, want)
	}
}

// Send writes a line to the child.
func (c *Child) Send(format string, args ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		c.t.Fatalf("write to %s: %v", c.Path, err)
	}
}

// Do sends a line and returns the answer.
func (c *Child) Do(format string, args ...any) string {
	c.t.Helper()
	c.Send(format, args...)
	return c.Read()
}
