package tcpconnect

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{
		"tcpconnect":   TCPConnect.Main,
		"tcpv4connect": TCPv4Connect.Main,
		"connector":    connector,
	})
}

// connector is a child process for the tests: it prints its comm, waits for
// a line on stdin, connects once to each address in its arguments, prints
// "done" and exits.
func connector(ctx context.Context, env cli.Env) error {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "comm %s\n", strings.TrimSpace(string(comm)))
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	for _, a := range env.Args {
		dial(a)
	}
	fmt.Fprintln(env.Stdout, "done")
	return nil
}

// dial connects to addr and closes the connection; refusal is expected for
// closed ports.
func dial(addr string) {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
}
