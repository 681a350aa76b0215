// Package tcpconnect is the implementation shared by the tcpconnect and
// tcpv4connect tools: one BPF program family (bpf/tcpconnect), one reader,
// two output formats.
package tcpconnect

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	bpf "github.com/bpfscope/bpfscope/bpf/tcpconnect"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// Plan is the attach plan, best backend first.
var Plan = loader.Plan{Backends: []loader.Backend{
	{Name: "fentry", Needs: []loader.Feature{loader.Fentry}, Spec: bpf.LoadFentry},
	{Name: "kprobe", Needs: []loader.Feature{loader.Kprobes}, Spec: bpf.LoadKprobe},
	{Name: "tracepoint", Spec: bpf.LoadTracepoint},
}}

const (
	afInet  = 2
	afInet6 = 10
)

// maxPorts is MAX_PORTS in tcpconnect.h.
const maxPorts = 64

// Config is what the flags ask for.
type Config struct {
	PID       int
	UID       int // -1: any
	Ports     []uint16
	Family    int // 0, afInet or afInet6
	Timestamp bool
	PrintUID  bool
	LPort     bool
	Count     bool
	JSON      bool
	Verbose   bool
	Backend   string
}

// constants turns the config into the BPF side's const volatile values.
func (c *Config) constants() map[string]any {
	var ports [maxPorts]uint16
	copy(ports[:], c.Ports)
	return map[string]any{
		"targ_tgid":        uint32(c.PID),
		"filter_uid":       c.UID >= 0,
		"targ_uid":         uint32(max(c.UID, 0)),
		"targ_family":      uint16(c.Family),
		"do_count":         c.Count,
		"filter_ports_len": uint32(len(c.Ports)),
		"filter_ports":     ports,
	}
}

// ParsePorts parses -P's comma-separated list.
func ParsePorts(s string) ([]uint16, error) {
	var ports []uint16
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, cli.Usagef("port %q in -P %q: want numbers 1-65535 separated by commas", f, s)
		}
		ports = append(ports, uint16(n))
	}
	if len(ports) > maxPorts {
		return nil, cli.Usagef("-P lists %d ports: at most %d", len(ports), maxPorts)
	}
	return ports, nil
}

// Run loads, attaches and prints until ctx is done.
func Run(ctx context.Context, env cli.Env, cfg Config, out Format) error {
	obj, err := loader.Open(Plan, loader.Options{Backend: cfg.Backend, Constants: cfg.constants()})
	if err != nil {
		return err
	}
	defer obj.Close()
	if cfg.Verbose {
		cli.ReportBackend(env.Stderr, obj, true)
	}

	if cfg.Count {
		return runCount(ctx, env, obj, cfg)
	}

	events, err := obj.OpenEvents(0)
	if err != nil {
		return err
	}
	p := &printer{w: env.Stdout, cfg: cfg, format: out}
	if cfg.JSON {
		fmt.Fprintln(env.Stderr, readyBanner)
	} else {
		if out.Banner != "" {
			fmt.Fprintln(env.Stdout, out.Banner)
		}
		p.header()
	}
	err = maps.ConsumeEvents(ctx, events, func(ev *bpf.Event) error { return p.event(ev) }, cli.LostPrinter(env.Stderr))
	return err
}

// readyBanner is bcc's banner; it goes to stderr where stdout is data only.
const readyBanner = "Tracing connect ... Hit Ctrl-C to end"

func runCount(ctx context.Context, env cli.Env, obj *loader.Object, cfg Config) error {
	if cfg.JSON {
		fmt.Fprintln(env.Stderr, readyBanner)
	} else {
		fmt.Fprintln(env.Stdout, readyBanner)
	}
	<-ctx.Done()
	entries, err := maps.ReadHash[bpf.CountKey, uint64](obj.Map("counts"), maps.Options{})
	if err != nil {
		return err
	}
	entries = maps.TopN(entries, 0, func(a, b maps.Entry[bpf.CountKey, uint64]) int {
		if a.Value != b.Value {
			return cmp.Compare(b.Value, a.Value)
		}
		return bytes.Compare(a.Key.Daddr[:], b.Key.Daddr[:])
	})
	if cfg.JSON {
		enc := json.NewEncoder(env.Stdout)
		for _, e := range entries {
			err := enc.Encode(CountRecord{ipVersion(e.Key.Af), addr(e.Key.Af, e.Key.Saddr), addr(e.Key.Af, e.Key.Daddr), e.Key.Dport, e.Value})
			if err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "\n%-25s %-25s %-20s %-10s\n", "LADDR", "RADDR", "RPORT", "CONNECTS")
	for _, e := range entries {
		fmt.Fprintf(env.Stdout, "%-25s %-25s %-20d %-10d\n", addr(e.Key.Af, e.Key.Saddr), addr(e.Key.Af, e.Key.Daddr), e.Key.Dport, e.Value)
	}
	return nil
}

func ipVersion(af uint16) int {
	if af == afInet6 {
		return 6
	}
	return 4
}

func addr(af uint16, b [16]uint8) string {
	if af == afInet6 {
		return netip.AddrFrom16(b).String()
	}
	return netip.AddrFrom4([4]byte(b[:4])).String()
}

// Record is the --json form of one connect.
type Record struct {
	Time  float64 `json:"time"` // seconds since the first event
	PID   uint32  `json:"pid"`
	TID   uint32  `json:"tid"`
	Comm  string  `json:"comm"`
	UID   uint32  `json:"uid"`
	IP    int     `json:"ip"`
	Saddr string  `json:"saddr"`
	Lport uint16  `json:"lport"`
	Daddr string  `json:"daddr"`
	Dport uint16  `json:"dport"`
}

// CountRecord is the --json form of one -c line.
type CountRecord struct {
	IP       int    `json:"ip"`
	Saddr    string `json:"saddr"`
	Daddr    string `json:"daddr"`
	Dport    uint16 `json:"dport"`
	Connects uint64 `json:"connects"`
}

// Format is one tool's output layout.
type Format struct {
	Banner string // printed before the header, "" for none
	IPCol  bool   // tcpconnect's IP column
	PIDW   int    // PID column width: 6 (tcpv4connect) or 7 (tcpconnect)
	PortW  int    // DPORT column width
}

type printer struct {
	w       io.Writer
	cfg     Config
	format  Format
	firstTS uint64
}

func (p *printer) header() {
	var b strings.Builder
	if p.cfg.Timestamp {
		fmt.Fprintf(&b, "%-9s", "TIME(s)")
	}
	if p.cfg.PrintUID {
		fmt.Fprintf(&b, "%-6s", "UID")
	}
	fmt.Fprintf(&b, "%-*s %-12s ", p.format.PIDW, "PID", "COMM")
	if p.format.IPCol {
		fmt.Fprintf(&b, "%-2s ", "IP")
	}
	fmt.Fprintf(&b, "%-16s ", "SADDR")
	if p.cfg.LPort {
		fmt.Fprintf(&b, "%-6s ", "LPORT")
	}
	fmt.Fprintf(&b, "%-16s %-*s", "DADDR", p.format.PortW, "DPORT")
	fmt.Fprintln(p.w, b.String())
}

func (p *printer) event(ev *bpf.Event) error {
	if p.firstTS == 0 {
		p.firstTS = ev.TsNs
	}
	secs := float64(ev.TsNs-p.firstTS) / 1e9
	if p.cfg.JSON {
		return json.NewEncoder(p.w).Encode(Record{
			Time: secs, PID: ev.Pid, TID: ev.Tid, Comm: maps.CString(ev.Comm[:]), UID: ev.Uid, IP: ipVersion(ev.Af),
			Saddr: addr(ev.Af, ev.Saddr), Lport: ev.Lport, Daddr: addr(ev.Af, ev.Daddr), Dport: ev.Dport,
		})
	}
	var b strings.Builder
	if p.cfg.Timestamp {
		fmt.Fprintf(&b, "%-9.3f", secs)
	}
	if p.cfg.PrintUID {
		fmt.Fprintf(&b, "%-6d", ev.Uid)
	}
	fmt.Fprintf(&b, "%-*d %-12.12s ", p.format.PIDW, ev.Pid, maps.CString(ev.Comm[:]))
	if p.format.IPCol {
		fmt.Fprintf(&b, "%-2d ", ipVersion(ev.Af))
	}
	fmt.Fprintf(&b, "%-16s ", addr(ev.Af, ev.Saddr))
	if p.cfg.LPort {
		fmt.Fprintf(&b, "%-6d ", ev.Lport)
	}
	fmt.Fprintf(&b, "%-16s %-*d", addr(ev.Af, ev.Daddr), p.format.PortW, ev.Dport)
	_, err := fmt.Fprintln(p.w, b.String())
	return err
}
