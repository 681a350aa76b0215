package funccount

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"funccount": Main})
}

// fcprog is testdata/fcprog (see fcprog.c) running as a child process.
type fcprog struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	Path string // absolute
	PID  int
}

func startProg(t *testing.T) *fcprog {
	t.Helper()
	path, err := filepath.Abs("testdata/fcprog")
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
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &fcprog{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out), Path: path, PID: cmd.Process.Pid}
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
	p.expect("ready")
	return p
}

func (p *fcprog) expect(want string) {
	p.t.Helper()
	line := make(chan string, 1)
	go func() {
		if p.out.Scan() {
			line <- p.out.Text()
		}
		close(line)
	}()
	select {
	case got := <-line:
		if got != want {
			p.t.Fatalf("fcprog said %q, want %q", got, want)
		}
	case <-time.After(60 * time.Second):
		p.t.Fatalf("fcprog did not say %q", want)
	}
}

// run makes fcprog call fc_one n times, fc_two 2n, fc_three 3n (and their
// USDT probes), getppid n, getpgid 2n and getsid 3n times.
func (p *fcprog) run(n int) {
	p.t.Helper()
	fmt.Fprintf(p.in, "run %d\n", n)
	p.expect(fmt.Sprintf("done %d", n))
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
