package usdt_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/pkg/uprobe"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// child is a test program of testdata/ driven line by line through its
// stdin and stdout.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	pid   int
}

// startChild starts testdata/name and waits for its "ready".
func startChild(t testing.TB, name string) *child {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
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
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{t: t, cmd: cmd, in: in, lines: make(chan string, 16), pid: cmd.Process.Pid}
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
	if l := c.read(); l != "ready" {
		t.Fatalf("%s said %q, want ready", name, l)
	}
	return c
}

func (c *child) read() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("child %d exited", c.pid)
		}
		return l
	case <-time.After(10 * time.Second):
		c.t.Fatalf("child %d did not answer", c.pid)
	}
	return ""
}

// do sends a command and returns the answer.
func (c *child) do(format string, args ...any) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.in, format+"\n", args...); err != nil {
		c.t.Fatalf("write to child: %v", err)
	}
	return c.read()
}

// semaphore reads the u16 semaphore of site p from the child's memory, at
// the address where the child has the semaphore's file offset mapped.
func (c *child) semaphore(p usdt.Probe) uint16 {
	c.t.Helper()
	if p.SemaphoreOffset == 0 {
		c.t.Fatalf("%s has no semaphore", p.FullName())
	}
	maps, err := uprobe.ReadMappings(c.pid)
	if err != nil {
		c.t.Fatal(err)
	}
	t := p.Target
	t.PID = c.pid
	addr, err := uprobe.RuntimeAddress(maps, t, p.SemaphoreOffset)
	if err != nil {
		c.t.Fatal(err)
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", c.pid))
	if err != nil {
		c.t.Fatal(err)
	}
	defer mem.Close()
	var b [2]byte
	if _, err := mem.ReadAt(b[:], int64(addr)); err != nil {
		c.t.Fatalf("read semaphore at %#x: %v", addr, err)
	}
	return binary.LittleEndian.Uint16(b[:])
}

// expectAnswer checks an answer line.
func expectAnswer(t testing.TB, got, want string) {
	t.Helper()
	if strings.TrimSpace(got) != want {
		t.Fatalf("child answered %q, want %q", got, want)
	}
}
