package funccount

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"funccount": Main})
}

// fcprog is testdata/fcprog (see fcprog.c) running as a child process.
type fcprog struct{ *kerneltest.Child }

func startProg(t *testing.T) *fcprog {
	t.Helper()
	return &fcprog{kerneltest.StartChild(t, "testdata/fcprog")}
}

// run makes fcprog call fc_one n times, fc_two 2n, fc_three 3n (and their
// USDT probes), getppid n, getpgid 2n and getsid 3n times.
func (p *fcprog) run(n int) {
	p.Send("run %d", n)
	p.Expect(fmt.Sprintf("done %d", n))
}

// parseTables returns the FUNC/COUNT tables of funccount's output.
func parseTables(t *testing.T, out string) []map[string]uint64 {
	t.Helper()
	var tables []map[string]uint64
	var cur map[string]uint64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "FUNC" && f[1] == "COUNT":
			cur = map[string]uint64{}
			tables = append(tables, cur)
		case cur != nil && len(f) == 2:
			var n uint64
			if _, err := fmt.Sscan(f[1], &n); err != nil {
				t.Fatalf("bad row %q", line)
			}
			cur[f[0]] = n
		default:
			cur = nil
		}
	}
	return tables
}
