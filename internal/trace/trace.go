// Package trace is bcc's trace: probes on kernel and user functions,
// tracepoints and USDT probes, compiled to BPF in process (pkg/compiler),
// each hit printed as a line with a message formatted from the values the
// probe collected.
package trace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// probe is one probe of the command line.
type probe struct {
	spec *probespec.TraceSpec
	fmt  *format
	// fn is the FUNC column: the function, event or USDT probe name.
	fn string
	cp *compiler.Compiled
}

// parseProbe parses one probe and its format, and checks that they agree.
func parseProbe(text string) (*probe, error) {
	s, err := probespec.ParseTrace(text)
	if err != nil {
		return nil, cli.Usagef("probe '%s': %v", text, err)
	}
	p := &probe{spec: s, fn: s.Probe.Function, fmt: &format{}}
	if s.HasFormat {
		if p.fmt, err = parseFormat(s.Format); err != nil {
			return nil, cli.Usagef("probe '%s': %v", text, err)
		}
	}
	if n, m := len(p.fmt.convs), len(s.Args); n != m {
		pos := s.FormatPos
		if m > n {
			pos = s.Args[n].Pos()
		}
		return nil, cli.Usagef("probe '%s': %v", text, s.GivenError(probespec.Errorf(s.Text, pos, "the format has %d conversion%s and %d argument%s follow it", n, plural(n), m, plural(m))))
	}
	return p, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// compilerProbe is what pkg/compiler makes of p: an Emit probe collecting
// each argument as its conversion's C type.
func (p *probe) compilerProbe() (compiler.Probe, error) {
	s := p.spec
	cp := compiler.Probe{Point: s.Probe, Text: s.Text, Filter: s.Filter, Action: compiler.Emit}
	for i, a := range s.Args {
		t, err := probespec.ParseType(p.fmt.convs[i].ctype())
		if err != nil {
			return cp, err
		}
		cp.Values = append(cp.Values, compiler.Value{Expr: a, Type: &t})
	}
	return cp, nil
}

// Run compiles, loads and attaches the probes and prints their events until
// Ctrl-C or -M.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	probes := make([]*probe, len(cfg.Probes))
	cps := make([]compiler.Probe, len(cfg.Probes))
	for i, text := range cfg.Probes {
		p, err := parseProbe(text)
		if err != nil {
			return err
		}
		if cps[i], err = p.compilerProbe(); err != nil {
			return err
		}
		probes[i] = p
	}
	opts := compiler.Options{
		PID: cfg.PID, TID: cfg.TID, StringSize: cfg.StringSize, Trace: true,
		KernelStacks: cfg.KernelStack, UserStacks: cfg.UserStack,
		// As bcc, the time and the CPU are recorded only when shown:
		// each is a helper call per event.
		Header: compiler.HeaderFields{Time: cfg.Timestamp, CPU: cfg.CPU},
	}
	if !cfg.IncludeSelf && cfg.PID == 0 && cfg.TID == 0 {
		opts.ExcludePID = os.Getpid()
	}
	page := os.Getpagesize()
	lo := compiler.LoadOptions{Loader: loader.Options{
		Backend:        cfg.Backend,
		PerfBuffer:     cfg.PerfBuffer,
		RingBufferSize: ringSize(cfg.BufferPages, runtime.NumCPU()),
	}}
	if cfg.Verbose {
		lo.Listing = func(backend, listing string) { fmt.Fprintf(env.Stdout, "; backend %s\n%s\n", backend, listing) }
	}
	obj, coll, err := compiler.Open(cps, opts, lo)
	if err != nil {
		return probeError(probes, err)
	}
	defer obj.Close()
	for i, p := range probes {
		p.cp = coll.Probes[i]
	}
	if cfg.Verbose {
		cli.ReportBackend(env.Stderr, obj, true)
	}
	perfPages := cfg.BufferPages
	if perfPages == 0 {
		perfPages = DefaultBufferPages
	}
	stream, err := obj.OpenEvents(perfPages * page)
	if err != nil {
		return err
	}
	defer stream.Close()

	out := newOutput(env.Stdout)
	defer out.stop()
	pr := newPrinter(cfg, probes, out, obj.Map(compiler.StacksMap))
	pr.header()
	if err := out.flush(); err != nil {
		return err
	}
	err = maps.ConsumeAll(ctx, stream, pr.event, cli.LostPrinter(env.Stderr))
	if errors.Is(err, errMaxEvents) {
		err = nil
	}
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	return err
}

// DefaultRingBufferSize is the ring buffer's size without -b: at a million
// events a second it holds some 50 ms of them, so that a reader held up by
// the scheduler on a busy machine loses none.
const DefaultRingBufferSize = 4 << 20

// ringSize is the ring buffer size for -b: the power of two that holds
// what the per-CPU perf buffers of that many pages would, or the default
// (0 pages).
func ringSize(pages, cpus int) uint32 {
	if pages == 0 {
		return DefaultRingBufferSize
	}
	want := uint64(pages) * uint64(os.Getpagesize()) * uint64(max(cpus, 1))
	size := uint64(os.Getpagesize())
	for size < want && size < 1<<30 {
		size <<= 1
	}
	return uint32(size)
}

// probeError turns an error in a probe into a usage error naming the probe
// as given.
func probeError(probes []*probe, err error) error {
	var pe *probespec.Error
	if errors.As(err, &pe) {
		for _, p := range probes {
			if p.spec.Text == pe.Text {
				return cli.Usagef("probe '%s': %v", p.spec.Given, p.spec.GivenError(pe))
			}
		}
	}
	return err
}

// errMaxEvents stops the event loop after -M events.
var errMaxEvents = errors.New("maximum number of events printed")

// monotonicNow is CLOCK_MONOTONIC, bpf_ktime_get_ns's clock, in ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// header is EventHeader's layout: its fields' offsets.
const (
	hdrTime   = 0
	hdrPid    = 8
	hdrCPU    = 16
	hdrProbe  = 20
	hdrComm   = 24
	hdrKStack = 40
	hdrUStack = 48
)

// wallClock is time.Now, replaced by nothing: -T shows local time.
var wallClock = time.Now

var le = binary.NativeEndian
