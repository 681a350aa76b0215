// Package funclatency is bcc's funclatency: the latency of kernel or user
// functions matched by a pattern, as log2 histograms, with return probes
// compiled to BPF in process (pkg/compiler).
package funclatency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// unitDivisors are what bcc divides latencies by, in BPF, before taking
// their log2 slot.
var unitDivisors = map[string]uint64{"nsecs": 1, "usecs": 1000, "msecs": 1000000}

// probe is the return probe timing function fn of library lib (empty for
// the kernel): a log2 histogram of its latency in unit, and the total
// latency in nanoseconds.
func probe(lib, fn, unit string) (compiler.Probe, error) {
	lat := "$latency"
	if d := unitDivisors[unit]; d > 1 {
		lat = fmt.Sprintf("$latency/%d", d)
	}
	s, err := probespec.ParseSpec(fmt.Sprintf("r:%s:%s():u64,u64:%s,$latency", lib, fn, lat))
	if err != nil {
		return compiler.Probe{}, fmt.Errorf("function %q: %w", fn, err)
	}
	p := compiler.Probe{Point: s.Probe, Text: s.Text, Action: compiler.Log2}
	for i := range s.Exprs {
		p.Values = append(p.Values, compiler.Value{Expr: s.Exprs[i], Type: &s.Types[i]})
	}
	return p, nil
}

// Run expands the pattern, loads and attaches a return probe per function
// it matches, and prints the histograms every interval until the duration
// or Ctrl-C ends it.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	pat, err := probespec.ParsePattern(cfg.Pattern, cfg.Regexp)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if pat.Kind != probespec.PatternFunction {
		return cli.Usagef("pattern %q: funclatency times functions (FUNC or LIB:FUNC); tracepoints and USDT probes have no return", cfg.Pattern)
	}
	targets, err := compiler.Expand(pat, compiler.ExpandOptions{PID: cfg.PID})
	switch {
	case errors.Is(err, compiler.ErrNoMatch):
		return cli.Usagef("0 functions matched by \"%s\"", cfg.Pattern)
	case errors.Is(err, compiler.ErrTooMany), errors.Is(err, uprobe.ErrTargetNotFound), errors.Is(err, uprobe.ErrLibraryNotFound), errors.Is(err, uprobe.ErrNoProcess):
		return cli.Usagef("%v", err)
	case err != nil:
		return err
	}
	funcs := make([]string, len(targets))
	probes := make([]compiler.Probe, len(targets))
	for i, t := range targets {
		funcs[i] = t.Name
		if probes[i], err = probe(pat.Library, t.Name, cfg.Unit); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	// One entry map for every function, as bcc: without -l a call
	// nested in another timed call replaces its entry.
	opts := compiler.Options{PID: cfg.PID, SharedEntry: true, Nesting: cfg.Level}
	lo := compiler.LoadOptions{Loader: loader.Options{Backend: cfg.Backend}}
	if cfg.Verbose {
		lo.Listing = func(backend, listing string) { fmt.Fprintf(env.Stdout, "; backend %s\n%s\n", backend, listing) }
	}
	obj, coll, err := compiler.Open(probes, opts, lo)
	if err != nil {
		var pe *probespec.Error
		if errors.As(err, &pe) {
			return cli.Usagef("%v", pe)
		}
		return err
	}
	defer obj.Close()
	if cfg.Verbose {
		cli.ReportBackend(env.Stderr, obj, false)
	}
	fmt.Fprintf(env.Stdout, "Tracing %d functions for \"%s\"... Hit Ctrl-C to end.\n", len(funcs), cfg.Pattern)

	r := &reporter{w: env.Stdout, cfg: cfg, funcs: funcs, user: !pat.KernelFunctions(), coll: coll, obj: obj}
	var tick <-chan time.Time
	if cfg.Interval > 0 {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	var elapsed time.Duration
	for {
		select {
		case <-ctx.Done():
			return r.last()
		case <-tick:
		}
		elapsed += cfg.Interval
		if cfg.Duration > 0 && elapsed >= cfg.Duration {
			return r.last()
		}
		if err := r.report(); err != nil {
			return err
		}
	}
}

// reporter prints bcc funclatency's reports.
type reporter struct {
	w     io.Writer
	cfg   Config
	funcs []string
	user  bool
	coll  *compiler.Collection
	obj   *loader.Object
	// prev holds each function's histogram and total at the last report:
	// the maps count since load, and a report shows the difference.
	prev      [][]uint64
	prevTotal []uint64
}

// last prints the final report and bcc's farewell.
func (r *reporter) last() error {
	if err := r.report(); err != nil {
		return err
	}
	fmt.Fprintln(r.w, "Detaching...")
	return nil
}

func (r *reporter) report() error {
	n := len(r.coll.Probes)
	if r.prev == nil {
		r.prev, r.prevTotal = make([][]uint64, n), make([]uint64, n)
	}
	sum := make([]uint64, histogram.Log2Slots)
	var (
		sections     []histogram.Section
		total, count uint64
	)
	for i, cp := range r.coll.Probes {
		m := r.obj.Map(cp.Map)
		buckets, err := compiler.ReadLog2(m)
		if err != nil {
			return err
		}
		t, err := compiler.ReadLog2Total(m)
		if err != nil {
			return err
		}
		cur := slices.Clone(buckets)
		var calls uint64
		for s := range cur {
			if r.prev[i] != nil {
				cur[s] -= r.prev[i][s]
			}
			sum[s] += cur[s]
			calls += cur[s]
		}
		total += t - r.prevTotal[i]
		count += calls
		r.prev[i], r.prevTotal[i] = buckets, t
		if calls > 0 {
			sections = append(sections, histogram.Section{Label: r.label(i), Buckets: cur})
		}
	}

	// One write per report, so that readers never see half of one.
	var b bytes.Buffer
	b.WriteString("\n")
	if r.cfg.Timestamp {
		fmt.Fprintf(&b, "%-8s\n", time.Now().Format("15:04:05"))
	}
	var err error
	if r.cfg.PerFunc {
		err = histogram.WriteLog2Sections(&b, "Function", sections, r.cfg.Unit)
	} else {
		err = histogram.WriteLog2(&b, sum, r.cfg.Unit)
	}
	if err != nil {
		return err
	}
	if count > 0 {
		// bcc divides the total by the unit, then by the count,
		// truncating both.
		d := unitDivisors[r.cfg.Unit]
		fmt.Fprintf(&b, "\navg = %d %s, total: %d %s, count: %d\n\n", total/d/count, r.cfg.Unit, total/d, r.cfg.Unit, count)
	}
	_, err = r.w.Write(b.Bytes())
	return err
}

// label is function i's section heading: bcc's "name [PID]" for user
// functions of one process, else the name.
func (r *reporter) label(i int) string {
	if r.user && r.cfg.PID != 0 {
		return fmt.Sprintf("%s [%d]", r.funcs[i], r.cfg.PID)
	}
	return r.funcs[i]
}
