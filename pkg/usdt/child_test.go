package usdt_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// child is a test program of testdata/ driven line by line through its
// stdin and stdout.
type child struct {
	*kerneltest.Child
	t   testing.TB
	pid int
}

// startChild starts testdata/name and waits for its "ready".
func startChild(t testing.TB, name string) *child {
	t.Helper()
	c := kerneltest.StartChild(t, filepath.Join("testdata", name))
	return &child{Child: c, t: t, pid: c.PID}
}

// do sends a command and returns the answer.
func (c *child) do(format string, args ...any) string {
	c.t.Helper()
	return c.Do(format, args...)
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
