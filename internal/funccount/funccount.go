// Package funccount is bcc's funccount: the kernel functions, tracepoints,
// user functions or USDT probes a pattern matches, counted by one generated
// program (pkg/compiler's Counter) and printed as a table at the end or
// every interval.
package funccount

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// Run expands the pattern, attaches the counter and prints the counts
// every interval (or once) until the duration or Ctrl-C ends it.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	pat, err := probespec.ParsePattern(cfg.Pattern, cfg.Regexp)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	targets, err := compiler.Expand(pat, compiler.ExpandOptions{PID: cfg.PID})
	if err != nil {
		return expandError(pat, err)
	}
	opts := compiler.CounterOptions{PID: cfg.PID, CPU: cfg.CPU, OneCPU: cfg.OneCPU, Mode: cfg.Mode}
	var lo compiler.LoadOptions
	if cfg.Verbose {
		lo.Listing = func(backend, listing string) { fmt.Fprintf(env.Stdout, "; backend %s\n%s\n", backend, listing) }
	}
	obj, counter, err := compiler.OpenCounter(targets, opts, lo)
	if err != nil {
		return err
	}
	defer obj.Close()
	fmt.Fprintf(env.Stdout, "Tracing %d functions for \"%s\"... Hit Ctrl-C to end.\n", len(targets), cfg.Pattern)

	r := &reporter{w: env.Stdout, cfg: cfg, counter: counter, obj: obj, prev: make([]uint64, len(targets))}
	// bcc's loop: -d alone is one interval; the report of the interval
	// that reaches the duration is the last.
	interval := cfg.Interval
	if interval == 0 {
		interval = cfg.Duration
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return r.report(true)
		case <-tick:
		}
		last := cfg.Duration > 0 && time.Duration(n)*interval >= cfg.Duration
		if err := r.report(last); err != nil || last {
			return err
		}
	}
}

// expandError says why a pattern matched nothing usable, as a usage error
// where the pattern is at fault.
func expandError(p *probespec.Pattern, err error) error {
	switch {
	case errors.Is(err, compiler.ErrNoMatch):
		where := map[probespec.PatternKind]string{
			probespec.PatternTracepoint: " (tplist lists the tracepoints)",
			probespec.PatternUSDT:       " (tplist -l " + p.Library + " lists its USDT probes)",
		}[p.Kind]
		switch {
		case p.KernelFunctions():
			where = " (the kernel functions are in /sys/kernel/tracing/available_filter_functions)"
		case p.Kind == probespec.PatternFunction:
			where = " in " + p.Library
		}
		return cli.Usagef("no functions matched by pattern %q%s", p.Text, where)
	case errors.Is(err, compiler.ErrTooMany),
		errors.Is(err, uprobe.ErrTargetNotFound), errors.Is(err, uprobe.ErrLibraryNotFound),
		errors.Is(err, uprobe.ErrNoProcess), errors.Is(err, uprobe.ErrBadELF), errors.Is(err, usdt.ErrBadNote):
		return cli.Usagef("%v", err)
	}
	return err
}

// reporter prints bcc's tables.
type reporter struct {
	w       io.Writer
	cfg     Config
	counter *compiler.Counter
	obj     *loader.Object
	// prev holds the totals at the last report: the map counts since
	// load and each report shows the difference, so that no hit between
	// reading and clearing is lost.
	prev []uint64
}

type row struct {
	name  string
	count uint64
}

func (r *reporter) report(last bool) error {
	total, err := r.counter.Counts(r.obj)
	if err != nil {
		return err
	}
	var rows []row
	for i, t := range r.counter.Targets {
		if n := total[i] - r.prev[i]; n > 0 {
			rows = append(rows, row{t.Name, n})
		}
	}
	r.prev = total
	// bcc sorts by count, smallest first; ties here by name.
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.count, b.count) })
	fmt.Fprintln(r.w)
	if r.cfg.Timestamp {
		fmt.Fprintf(r.w, "%-8s\n", time.Now().Format("15:04:05"))
	}
	fmt.Fprintf(r.w, "%-36s %8s\n", "FUNC", "COUNT")
	for _, rw := range rows {
		fmt.Fprintf(r.w, "%-36s %8d\n", rw.name, rw.count)
	}
	if last {
		fmt.Fprintln(r.w, "Detaching...")
	}
	return nil
}
