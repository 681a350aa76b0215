// Package argdist is bcc's argdist: probe specifiers compiled to BPF in
// process (pkg/compiler), a frequency count (-C) or log2 histogram (-H) of
// the values they collect, printed every interval.
package argdist

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// spec is one -C or -H specifier.
type spec struct {
	flag string // "-C" or "-H"
	text string // as given
	hist bool
	// def tells a specifier without expressions: argdist counts calls
	// ("total calls") or return values ("retval = N").
	def    bool
	parsed *probespec.Spec
}

// label is the probe's heading: its label, or the specifier as given.
func (s *spec) label() string {
	if s.parsed.Label != "" {
		return s.parsed.Label
	}
	return s.text
}

// parseSpec parses one specifier and checks what argdist requires of it.
func parseSpec(flag, text string, hist bool) (*spec, error) {
	s := &spec{flag: flag, text: text, hist: hist}
	usage := func(err error) error { return cli.Usagef("%s '%s': %v", flag, text, err) }
	p, err := probespec.ParseSpec(text)
	if err != nil {
		return nil, usage(err)
	}
	if len(p.Exprs) == 0 {
		// bcc's defaults: the return value in return probes, else 1.
		if hist && p.Probe.Kind != probespec.Return {
			return nil, usage(probespec.Errorf(text, p.Probe.End, "histograms must have an expression: add :TYPE:EXPR, e.g. :u64:size"))
		}
		s.def = true
		def := ":u64:1"
		if p.Probe.Kind == probespec.Return {
			def = ":int:$retval"
		}
		withDef := text[:p.Probe.End] + def + text[p.Probe.End:]
		if p, err = probespec.ParseSpec(withDef); err != nil {
			return nil, usage(err)
		}
	}
	if hist && len(p.Exprs) > 1 {
		return nil, usage(probespec.Errorf(text, p.Exprs[1].Pos(), "histograms can only have one expression"))
	}
	s.parsed = p
	return s, nil
}

func (s *spec) probe() compiler.Probe {
	p := s.parsed
	cp := compiler.Probe{Point: p.Probe, Text: p.Text, Filter: p.Filter, Action: compiler.Count}
	if s.hist {
		cp.Action = compiler.Log2
	}
	for i := range p.Exprs {
		cp.Values = append(cp.Values, compiler.Value{Expr: p.Exprs[i], Type: &p.Types[i]})
	}
	return cp
}

// Run compiles the specifiers, loads and attaches them, and prints every
// interval until the count, the duration or Ctrl-C ends it.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	var specs []*spec
	for _, t := range cfg.Freq {
		s, err := parseSpec("-C", t, false)
		if err != nil {
			return err
		}
		specs = append(specs, s)
	}
	for _, t := range cfg.Hist {
		s, err := parseSpec("-H", t, true)
		if err != nil {
			return err
		}
		specs = append(specs, s)
	}
	probes := make([]compiler.Probe, len(specs))
	for i, s := range specs {
		probes[i] = s.probe()
	}
	opts := compiler.Options{PID: cfg.PID, TID: cfg.TID, StringSize: cfg.StringSize}
	lo := compiler.LoadOptions{Loader: loader.Options{Backend: cfg.Backend}}
	if cfg.Verbose {
		lo.Listing = func(backend, listing string) { fmt.Fprintf(env.Stdout, "; backend %s\n%s\n", backend, listing) }
	}
	obj, coll, err := compiler.Open(probes, opts, lo)
	if err != nil {
		return specError(specs, err)
	}
	defer obj.Close()
	if cfg.Verbose {
		cli.ReportBackend(env.Stderr, obj, false)
	}
	fmt.Fprintf(env.Stderr, "Tracing %d probe%s... Hit Ctrl-C to end.\n", len(specs), map[bool]string{true: "s", false: ""}[len(specs) > 1])

	r := &reporter{w: env.Stdout, cfg: cfg, specs: specs, coll: coll, obj: obj, prev: map[string][]uint64{}}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			// bcc prints nothing more at Ctrl-C; the report of the
			// partial interval is printed, so nothing is lost.
			return r.report()
		case <-tick.C:
		}
		if err := r.report(); err != nil {
			return err
		}
		if cfg.Count > 0 && n >= cfg.Count || cfg.Duration > 0 && time.Duration(n)*cfg.Interval >= cfg.Duration {
			return nil
		}
	}
}

// specError turns a compile error into a usage error naming the specifier.
func specError(specs []*spec, err error) error {
	var pe *probespec.Error
	if errors.As(err, &pe) {
		for _, s := range specs {
			if s.parsed.Text == pe.Text {
				// Columns point into the specifier as given (defaults
				// are appended after it).
				return cli.Usagef("%s '%s': %v", s.flag, s.text, pe)
			}
		}
	}
	return err
}

// reporter prints bcc's interval reports.
type reporter struct {
	w     io.Writer
	cfg   Config
	specs []*spec
	coll  *compiler.Collection
	obj   *loader.Object
	// prev holds the histograms' totals at the last report: the maps
	// count since load, and a report shows the difference.
	prev map[string][]uint64
}

func (r *reporter) report() error {
	fmt.Fprintf(r.w, "[%s]\n", time.Now().Format("15:04:05"))
	for i, s := range r.specs {
		cp := r.coll.Probes[i]
		m := r.obj.Map(cp.Map)
		var err error
		if s.hist {
			err = r.hist(s, cp, m)
		} else {
			err = r.freq(s, cp, m)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *reporter) freq(s *spec, cp *compiler.Compiled, m *ebpf.Map) error {
	entries, err := compiler.ReadCounts(m, !r.cfg.Cumulative)
	if err != nil {
		return err
	}
	// bcc sorts by count, smallest first, and -T keeps the last lines;
	// ties are in key order here.
	slices.SortFunc(entries, func(a, b compiler.CountEntry) int {
		if c := cmp.Compare(a.Count, b.Count); c != 0 {
			return c
		}
		return compareKeys(cp.Key, a.Key, b.Key)
	})
	if r.cfg.Top > 0 && len(entries) > r.cfg.Top {
		entries = entries[len(entries)-r.cfg.Top:]
	}
	fmt.Fprintln(r.w, s.label())
	fmt.Fprintf(r.w, "\t%-10s %s\n", "COUNT", "EVENT")
	for _, e := range entries {
		fmt.Fprintf(r.w, "\t%-10d %s\n", e.Count, r.event(s, cp, e.Key))
	}
	return nil
}

// compareKeys orders records field by field: numbers by value, strings
// alphabetically.
func compareKeys(l compiler.Layout, a, b []byte) int {
	for _, f := range l.Fields {
		var c int
		switch x := f.Value(a).(type) {
		case int64:
			c = cmp.Compare(x, f.Value(b).(int64))
		case uint64:
			c = cmp.Compare(x, f.Value(b).(uint64))
		case string:
			c = strings.Compare(x, f.Value(b).(string))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// event describes a key as bcc does: "expr = value, expr = value".
func (r *reporter) event(s *spec, cp *compiler.Compiled, key []byte) string {
	if s.def {
		if s.parsed.Probe.Kind == probespec.Return {
			return "retval = " + cp.Key.Fields[0].Format(key)
		}
		return "total calls"
	}
	parts := make([]string, len(cp.Key.Fields))
	for i, f := range cp.Key.Fields {
		parts[i] = f.Text + " = " + f.Format(key)
	}
	return strings.Join(parts, ", ")
}

func (r *reporter) hist(s *spec, cp *compiler.Compiled, m *ebpf.Map) error {
	total, err := compiler.ReadLog2(m)
	if err != nil {
		return err
	}
	buckets := total
	if !r.cfg.Cumulative {
		buckets = slices.Clone(total)
		if prev, ok := r.prev[cp.Map]; ok {
			for i := range buckets {
				buckets[i] -= prev[i]
			}
		}
		r.prev[cp.Map] = total
	}
	label := s.parsed.Label
	if label == "" {
		label = cp.Key.Fields[0].Text
		if s.def {
			label = "retval"
		}
	}
	return histogram.WriteLog2(r.w, buckets, label)
}
