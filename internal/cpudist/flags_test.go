package cpudist

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

func parse(args ...string) (Config, string, error) {
	var out bytes.Buffer
	cfg, err := parseFlags(cli.Env{Args: args, Stdout: &out, Stderr: io.Discard})
	return cfg, out.String(), err
}

func TestParseFlags(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		args []string
		want Config
	}{
		{nil, Config{}},
		{[]string{"-O", "-T", "-m", "-P", "-I", "-e", "5", "3"},
			Config{OffCPU: true, Timestamp: true, Milliseconds: true, PerProcess: true, Idle: true, Extended: true, Interval: 5 * time.Second, Count: 3}},
		{[]string{"-mT", "1"}, Config{Milliseconds: true, Timestamp: true, Interval: time.Second}},
		{[]string{"-L", "-p", self}, Config{PerThread: true, PID: os.Getpid()}},
		{[]string{"--offcpu", "--timestamp", "--milliseconds", "--tids", "--pid", self, "--include-idle", "--extension"},
			Config{OffCPU: true, Timestamp: true, Milliseconds: true, PerThread: true, PID: os.Getpid(), Idle: true, Extended: true}},
		{[]string{"--json", "-v", "--backend", "raw_tp", "--involuntary", "10"},
			Config{JSON: true, Verbose: true, Backend: "raw_tp", Involuntary: true, Interval: 10 * time.Second}},
	}
	for _, c := range cases {
		got, _, err := parse(c.args...)
		if err != nil || got != c.want {
			t.Errorf("%q: got %+v, %v; want %+v", c.args, got, err, c.want)
		}
	}
}

func TestParseFlagsCgroup(t *testing.T) {
	dir := ""
	for _, d := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if cli.CheckCgroup(d) == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Skip("no cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	}
	got, _, err := parse("-c", dir)
	if err != nil || got.Cgroup != dir {
		t.Errorf("-c %s: got %+v, %v", dir, got, err)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	cases := [][]string{
		{"0"}, {"1", "0"}, {"x"}, {"1", "2", "3"}, {"-1"}, {"-p", "0"}, {"-p", "-5"},
		{"-p", "4194305"}, {"-P", "-L"}, {"-O", "--involuntary"}, {"-c", "/nonexistent"},
		{"-c", ""}, {"--backend", "fentry"}, {"--backend", ""}, {"--nope"},
	}
	for _, args := range cases {
		if _, _, err := parse(args...); !cli.IsUsage(err) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

func TestHelp(t *testing.T) {
	_, out, err := parse("-h")
	if !errors.Is(err, cli.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"usage: cpudist", "-O, --offcpu", "-p, --pid PID", "interval", "cpudist -mT 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// FuzzParseFlags checks that no command line panics and that every error is
// a usage error (exit 2) or the help.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"", "-O -T 1 2", "-mT 1", "-p 1 -L", "-P -L", "--backend tp_btf", "-c /sys/fs/cgroup", "-e -I --json", "1 x", "-h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, err := parse(strings.Fields(s)...)
		if err != nil && !cli.IsUsage(err) && !errors.Is(err, cli.ErrHelp) {
			t.Errorf("%q: %v is neither a usage error nor the help", s, err)
		}
	})
}
