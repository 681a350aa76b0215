package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// FlagSet is a tool's flags with bcc-style help: a usage line, a
// description, the flags, and examples.
type FlagSet struct {
	*pflag.FlagSet
	Usage       string // e.g. "tcpconnect [-h] [-t] [-p PID] ..."
	Description string
	Examples    string
	// Positional describes positional arguments for the help, one per
	// line, e.g. "  interval    output interval, in seconds".
	Positional string
}

// NewFlagSet returns an empty FlagSet for tool name.
func NewFlagSet(name, usage, description, examples string) *FlagSet {
	fs := &FlagSet{
		FlagSet:     pflag.NewFlagSet(name, pflag.ContinueOnError),
		Usage:       usage,
		Description: description,
		Examples:    examples,
	}
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	return fs
}

// ErrHelp is returned by Parse when -h or --help was given; the help has been
// written to stdout.
var ErrHelp = errors.New("help requested")

// Parse parses args. Errors are UsageErrors; -h prints the help to stdout
// and returns ErrHelp.
func (fs *FlagSet) Parse(args []string, stdout io.Writer) error {
	fs.BoolP("help", "h", false, "show this help message and exit")
	err := fs.FlagSet.Parse(args)
	if errors.Is(err, pflag.ErrHelp) || (err == nil && fs.Lookup("help").Changed) {
		fs.WriteHelp(stdout)
		return ErrHelp
	}
	if err != nil {
		return Usagef("%v (see --help)", err)
	}
	return nil
}

// WriteHelp writes the help text.
func (fs *FlagSet) WriteHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", fs.Usage, fs.Description)
	if fs.Positional != "" {
		fmt.Fprintf(w, "\npositional arguments:\n%s\n", strings.TrimRight(fs.Positional, "\n"))
	}
	fmt.Fprintf(w, "\noptions:\n%s", fs.FlagUsagesWrapped(100))
	if fs.Examples != "" {
		fmt.Fprintf(w, "\nexamples:\n%s\n", strings.TrimRight(fs.Examples, "\n"))
	}
}

// IntervalCount parses bcc's positional [interval [count]]: interval in
// seconds (default def, 0 for none: report once at exit), count the number of
// reports (0: until interrupted).
func IntervalCount(args []string, def time.Duration) (interval time.Duration, count int, err error) {
	interval = def
	if len(args) > 2 {
		return 0, 0, Usagef("too many arguments %q: want [interval [count]]", args)
	}
	if len(args) >= 1 {
		n, err := strconv.ParseUint(args[0], 10, 31)
		if err != nil || n == 0 {
			return 0, 0, Usagef("interval %q: want a whole number of seconds > 0", args[0])
		}
		interval = time.Duration(n) * time.Second
	}
	if len(args) == 2 {
		n, err := strconv.ParseUint(args[1], 10, 31)
		if err != nil || n == 0 {
			return 0, 0, Usagef("count %q: want a whole number > 0", args[1])
		}
		count = int(n)
	}
	return interval, count, nil
}

// CheckPID returns a UsageError unless pid names a running process.
func CheckPID(pid int) error {
	if pid <= 0 {
		return Usagef("pid %d: want a process id > 0", pid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return Usagef("pid %d: no such process (list processes with ps)", pid)
	}
	return nil
}
