package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Env is what a tool's Run gets: its arguments and output streams.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
}

// RunFunc is a tool's body. It returns when ctx is cancelled (Ctrl-C,
// SIGTERM) or its work is done, after detaching everything.
type RunFunc func(ctx context.Context, env Env) error

// Main runs a tool and returns its exit status: 0 on success, on --help and
// after Ctrl-C or SIGTERM; 2 for usage errors; 1 for run-time failures, with
// one line "name: error" on stderr.
func Main(name string, run RunFunc, env Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return ExitCode(name, run(ctx, env), env.Stderr)
}

// ExitCode reports err on w and maps it to an exit status.
func ExitCode(name string, err error, w io.Writer) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp), errors.Is(err, context.Canceled):
		return 0
	case IsUsage(err):
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return 2
	default:
		// Verifier errors carry the log's last lines; everything
		// else is one line.
		msg := err.Error()
		if !strings.Contains(msg, "verifier") {
			msg = strings.ReplaceAll(msg, "\n", "; ")
		}
		fmt.Fprintf(w, "%s: %s\n", name, msg)
		return 1
	}
}

// Run is the usual body of a tool's main function.
func Run(name string, run RunFunc) {
	os.Exit(Main(name, run, Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr}))
}
