package tcpconnect

import (
	"context"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

// Tool describes one of the two tools built on this package.
type Tool struct {
	Name        string
	Description string
	Examples    string
	Families    bool // -4 and -6
	Format      Format
}

// TCPConnect is bcc's tools/tcpconnect.
var TCPConnect = Tool{
	Name:        "tcpconnect",
	Description: "Trace TCP connects: one line per active connect (connect() and the like) that sent a SYN.\nThese are attempts: they may have been refused or timed out since.",
	Examples: `    tcpconnect           # trace all TCP connect()s
    tcpconnect -t        # include timestamps
    tcpconnect -p 181    # only trace PID 181
    tcpconnect -P 80     # only trace port 80
    tcpconnect -P 80,81  # only trace port 80 and 81
    tcpconnect -4        # only trace IPv4 family
    tcpconnect -6        # only trace IPv6 family
    tcpconnect -U        # include UID
    tcpconnect -u 1000   # only trace UID 1000
    tcpconnect -c        # count connects per src ip and dest ip/port
    tcpconnect -L        # include LPORT while printing outputs
    tcpconnect --json    # one JSON object per connect
    tcpconnect -v --backend tracepoint  # force a backend and say so`,
	Families: true,
	Format:   Format{Banner: "Tracing connect ... Hit Ctrl-C to end", IPCol: true, PIDW: 7, PortW: 6},
}

// TCPv4Connect is bcc's classic examples/tracing/tcpv4connect.py made a tool.
var TCPv4Connect = Tool{
	Name:        "tcpv4connect",
	Description: "Trace TCP IPv4 connects (bcc's classic tcpv4connect example): one line per attempted\nconnection that sent a SYN; these may have failed.",
	Examples: `    tcpv4connect            # trace all IPv4 TCP connects
    tcpv4connect -p 181     # only trace PID 181
    tcpv4connect -P 80,443  # only connects to ports 80 and 443
    tcpv4connect -v         # say which backend (fentry, kprobe, tracepoint) is used
    tcpv4connect --backend kprobe  # the classic kprobe + kretprobe + hash design`,
	Format: Format{PIDW: 6, PortW: 4},
}

// Main parses the flags of t and runs it.
func (t Tool) Main(ctx context.Context, env cli.Env) error {
	usage := t.Name + " [-h] [-t] [-p PID] [-P PORTS] [-L] [-U] [-u UID] [-c] [--json] [-v] [--backend NAME]"
	if t.Families {
		usage = t.Name + " [-h] [-t] [-p PID] [-P PORTS] [-4 | -6] [-L] [-U] [-u UID] [-c] [--json] [-v] [--backend NAME]"
	}
	fs := cli.NewFlagSet(t.Name, usage, t.Description, t.Examples)
	var (
		cfg      = Config{UID: -1}
		ports    string
		uid      int
		v4, v6   bool
		backends = strings.Join(Plan.Names(), ", ")
	)
	fs.BoolVarP(&cfg.Timestamp, "timestamp", "t", false, "include timestamp on output")
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this PID only")
	fs.StringVarP(&ports, "port", "P", "", "comma-separated list of destination ports to trace")
	if t.Families {
		fs.BoolVarP(&v4, "ipv4", "4", false, "trace IPv4 family only")
		fs.BoolVarP(&v6, "ipv6", "6", false, "trace IPv6 family only")
	}
	fs.BoolVarP(&cfg.LPort, "lport", "L", false, "include LPORT on output")
	fs.BoolVarP(&cfg.PrintUID, "print-uid", "U", false, "include UID on output")
	fs.IntVarP(&uid, "uid", "u", -1, "trace this UID only")
	fs.BoolVarP(&cfg.Count, "count", "c", false, "count connects per src ip and dest ip/port, print at exit")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per event (or per count with -c)")
	fs.BoolVarP(&cfg.Verbose, "verbose", "v", false, "say which backend is used and why others were passed over")
	fs.StringVar(&cfg.Backend, "backend", "", "force a backend: "+backends+" (default: the best the kernel has)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return err
		}
	}
	if fs.Changed("uid") {
		if uid < 0 {
			return cli.Usagef("uid %d: want a number >= 0", uid)
		}
		cfg.UID = uid
	}
	if ports != "" {
		p, err := ParsePorts(ports)
		if err != nil {
			return err
		}
		cfg.Ports = p
	}
	switch {
	case v4 && v6:
		return cli.Usagef("-4 and -6 exclude each other")
	case v4 || !t.Families:
		cfg.Family = afInet
	case v6:
		cfg.Family = afInet6
	}
	if cfg.Backend != "" {
		if _, ok := planHas(cfg.Backend); !ok {
			return cli.Usagef("--backend %q: choose one of %s", cfg.Backend, backends)
		}
	}
	return Run(ctx, env, cfg, t.Format)
}

func planHas(name string) (int, bool) {
	for i, n := range Plan.Names() {
		if n == name {
			return i, true
		}
	}
	return 0, false
}
