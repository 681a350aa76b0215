package trace

import (
	"path/filepath"
	"testing"

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
type classic struct{ *kerneltest.Child }

// startClassic starts testdata/classic n and waits until it is ready. It
// exits when the test ends (its stdin is closed).
func startClassic(t testing.TB, n int) *classic {
	t.Helper()
	return &classic{kerneltest.StartChild(t, "testdata/classic", itoa(n))}
}

// run lets the program do its work and waits until it has.
func (c *classic) run(t testing.TB) {
	t.Helper()
	c.Send("go")
	c.Expect("done")
}

func (c *classic) pid() int { return c.PID }
