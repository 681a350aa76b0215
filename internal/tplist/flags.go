package tplist

import (
	"context"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

const (
	usage       = "tplist [-h] [-p PID] [-l LIB] [-v] [filter]"
	description = "Display kernel tracepoints or USDT probes and their formats."
	examples    = `    tplist                      # list all kernel tracepoints
    tplist -v 'net:*'           # net tracepoints with their fields
    tplist 'block:*'            # block tracepoints
    tplist -l c                 # USDT probes in libc (bcc's short name)
    tplist -l stdc++            # USDT probes in libstdc++
    tplist -l /usr/bin/node     # USDT probes in an executable
    tplist -p 4717 'libc:*'     # probes of the libc provider in process 4717
    tplist -vv -l c '*alloc*'   # locations and argument locations`
	positional = "  filter             A filter that specifies which probes/tracepoints to print"
)

// Config is what the flags ask for.
type Config struct {
	PID       int
	Lib       string
	Verbosity int
	Filter    string
}

// Main parses tplist's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("tplist", usage, description, examples)
	fs.Positional = positional
	var cfg Config
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "List USDT probes in the specified process")
	fs.StringVarP(&cfg.Lib, "lib", "l", "", "List USDT probes in the specified library or executable")
	fs.CountVarP(&cfg.Verbosity, "verbose", "v", "Increase verbosity level (print variables, arguments, etc.)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		cfg.Filter = fs.Arg(0)
		if err := checkFilter(cfg.Filter); err != nil {
			return err
		}
	default:
		return cli.Usagef("unexpected argument %q: want one filter at most (see --help)", fs.Arg(1))
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return err
		}
	}
	if fs.Changed("lib") && cfg.Lib == "" {
		return cli.Usagef("-l: empty library name")
	}
	return Run(ctx, env, cfg)
}
