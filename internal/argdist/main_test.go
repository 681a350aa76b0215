package argdist

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"argdist": Main, "gowriter": goWriter})
}

// writerFD is where the writers write: /dev/null, duplicated to a number
// no other file of theirs has.
const writerFD = 77

// goWriter is the test binary run as a child: it prints "ready 77", then
// for each line "go" on stdin writes buffers of 1..N bytes to fd 77 with
// write(2) and prints "done"; "quit" or the end of stdin ends it.
func goWriter(ctx context.Context, env cli.Env) error {
	if len(env.Args) != 1 {
		return cli.Usagef("usage: gowriter N")
	}
	n, err := strconv.Atoi(env.Args[0])
	if err != nil || n < 0 || n > 1<<16 {
		return cli.Usagef("N %q: want 0 to 65536", env.Args[0])
	}
	f, err := os.OpenFile("/dev/null", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := unix.Dup2(int(f.Fd()), writerFD); err != nil {
		return err
	}
	buf := make([]byte, n)
	fmt.Fprintf(env.Stdout, "ready %d\n", writerFD)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "quit" {
			return nil
		}
		for i := 1; i <= n; i++ {
			if _, err := unix.Write(writerFD, buf[:i]); err != nil {
				return err
			}
		}
		fmt.Fprintln(env.Stdout, "done")
	}
	return nil
}
