package cpudist

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	bpf "github.com/bpfscope/bpfscope/bpf/cpudist"
	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/maps"
)

// reporter reads and clears the histograms once per interval and prints
// them.
type reporter struct {
	obj     *loader.Object
	cfg     Config
	env     cli.Env
	unit    string
	unitNs  uint64
	dropped uint64   // hist_drops seen so far
	seen    bpf.Hist // hist_cpu, summed over CPUs, at the last read
}

func newReporter(obj *loader.Object, cfg Config, env cli.Env) *reporter {
	r := &reporter{obj: obj, cfg: cfg, env: env, unit: "usecs", unitNs: 1000}
	if cfg.Milliseconds {
		r.unit, r.unitNs = "msecs", 1000000
	}
	return r
}

// Section is one histogram of a report: the system's (ID 0, no Comm) or one
// process's or thread's.
type Section struct {
	ID      uint32
	Comm    string
	Buckets []uint64
	TotalNs uint64
	Count   uint64
}

// read returns the histograms of the interval, sorted by ID, and clears
// them, as bcc does after printing (the system-wide one is differenced
// instead).
func (r *reporter) read() ([]Section, error) {
	var entries []maps.Entry[uint32, bpf.Hist]
	if r.cfg.sectioned() {
		var err error
		entries, err = maps.ReadHash[uint32, bpf.Hist](r.obj.Map("hists"), maps.Options{Clear: true})
		if err != nil {
			return nil, fmt.Errorf("read histograms: %w", err)
		}
	} else {
		// The per-CPU histogram only grows: report what it grew by.
		var perCPU []bpf.Hist
		if err := r.obj.Map("hist_cpu").Lookup(uint32(0), &perCPU); err != nil {
			return nil, fmt.Errorf("read histogram: %w", err)
		}
		var sum bpf.Hist
		for _, h := range perCPU {
			sum = addHist(sum, h)
		}
		entries = []maps.Entry[uint32, bpf.Hist]{{Key: 0, Value: subHist(sum, r.seen)}}
		r.seen = sum
	}
	sections := make([]Section, 0, len(entries))
	for _, e := range entries {
		s := Section{ID: e.Key, Comm: maps.CString(e.Value.Comm[:]), Buckets: e.Value.Slots[:], TotalNs: e.Value.TotalNs}
		for _, n := range s.Buckets {
			s.Count += n
		}
		if s.Count > 0 {
			sections = append(sections, s)
		}
	}
	slices.SortFunc(sections, func(a, b Section) int { return cmp.Compare(a.ID, b.ID) })
	return sections, nil
}

func subHist(a, b bpf.Hist) bpf.Hist {
	for i := range a.Slots {
		a.Slots[i] -= b.Slots[i]
	}
	a.TotalNs -= b.TotalNs
	return a
}

func addHist(a, b bpf.Hist) bpf.Hist {
	for i := range a.Slots {
		a.Slots[i] += b.Slots[i]
	}
	a.TotalNs += b.TotalNs
	return a
}

// drops returns the spans lost since the last call because hists was full.
func (r *reporter) drops() uint64 {
	total, err := maps.SumPerCPU[uint32, uint64](r.obj.Map("hist_drops"), 0)
	if err != nil || total <= r.dropped {
		return 0
	}
	n := total - r.dropped
	r.dropped = total
	return n
}

func (r *reporter) report(now time.Time) error {
	sections, err := r.read()
	if err != nil {
		return err
	}
	if n := r.drops(); n > 0 {
		what := "processes"
		if r.cfg.PerThread {
			what = "threads"
		}
		fmt.Fprintf(r.env.Stderr, "Possibly lost %d spans: more than %d %s in one interval\n", n, r.obj.Map("hists").MaxEntries(), what)
	}
	if r.cfg.JSON {
		return r.writeJSON(now, sections)
	}
	return r.writeText(now, sections)
}

func (r *reporter) sectionHeader() string {
	if r.cfg.PerThread {
		return "tid"
	}
	return "pid"
}

// writeText prints as bcc's cpudist.py: an empty line, the time with -T,
// the histograms and, with -e, the summary.
func (r *reporter) writeText(now time.Time, sections []Section) error {
	w := r.env.Stdout
	var b strings.Builder
	b.WriteString("\n")
	if r.cfg.Timestamp {
		fmt.Fprintf(&b, "%-8s\n", now.Format("15:04:05"))
	}
	if _, err := fmt.Fprint(w, b.String()); err != nil {
		return err
	}
	if r.cfg.sectioned() {
		hs := make([]histogram.Section, len(sections))
		for i, s := range sections {
			hs[i] = histogram.Section{Label: r.label(s), Buckets: s.Buckets}
		}
		if err := histogram.WriteLog2Sections(w, r.sectionHeader(), hs, r.unit); err != nil {
			return err
		}
	} else if len(sections) > 0 {
		if err := histogram.WriteLog2(w, sections[0].Buckets, r.unit); err != nil {
			return err
		}
	}
	if r.cfg.Extended {
		var count, totalNs uint64
		for _, s := range sections {
			count += s.Count
			totalNs += s.TotalNs
		}
		if count > 0 {
			total := totalNs / r.unitNs
			_, err := fmt.Fprintf(w, "\navg = %d %s, total: %d %s, count: %d\n\n", total/count, r.unit, total, r.unit, count)
			return err
		}
	}
	return nil
}

// label is bcc's section label: "pid comm" with the comm read from /proc
// at print time, newline included (so bcc prints an empty line after it),
// or the bare pid if /proc has none. For tasks gone by then we fall back to
// the name recorded when the histogram was created; pid 0 (the idle tasks
// of all CPUs, -I) stays bare, as in bcc.
func (r *reporter) label(s Section) string {
	if comm, ok := procComm(s.ID); ok {
		return fmt.Sprintf("%d %s", s.ID, comm)
	}
	if s.ID == 0 || s.Comm == "" {
		return strconv.FormatUint(uint64(s.ID), 10)
	}
	return fmt.Sprintf("%d %s\n", s.ID, s.Comm)
}

// procComm reads /proc/ID/comm as bcc does, trailing newline included; ID
// may be a thread id.
func procComm(id uint32) (string, bool) {
	if id == 0 {
		return "", false
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(id), 10) + "/comm")
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Report is the --json form of one interval: one object per line.
type Report struct {
	// Time is when the interval ended, RFC 3339 with milliseconds.
	Time string `json:"time"`
	// Mode is "on-cpu" or "off-cpu".
	Mode string `json:"mode"`
	Unit string `json:"unit"`
	// Count and TotalNs sum the spans of all histograms (-e's figures,
	// with the total in nanoseconds).
	Count   uint64 `json:"count"`
	TotalNs uint64 `json:"total_ns"`
	// Histograms holds the system's histogram, or one per process (-P)
	// or thread (-L); never null, empty when nothing ran.
	Histograms []HistogramJSON `json:"histograms"`
}

// HistogramJSON is one histogram of a Report: pkg/histogram's JSON form
// plus the process or thread it belongs to and its span count and total.
type HistogramJSON struct {
	histogram.Histogram
	PID     *uint32 `json:"pid,omitempty"`
	TID     *uint32 `json:"tid,omitempty"`
	Comm    string  `json:"comm,omitempty"`
	Count   uint64  `json:"count"`
	TotalNs uint64  `json:"total_ns"`
}

func (r *reporter) writeJSON(now time.Time, sections []Section) error {
	rep := Report{
		Time:       now.Format("2006-01-02T15:04:05.000Z07:00"),
		Mode:       map[bool]string{false: "on-cpu", true: "off-cpu"}[r.cfg.OffCPU],
		Unit:       r.unit,
		Histograms: make([]HistogramJSON, 0, len(sections)),
	}
	for _, s := range sections {
		h, err := histogram.Log2Histogram(s.Buckets, r.unit)
		if err != nil {
			return err
		}
		hj := HistogramJSON{Histogram: h, Count: s.Count, TotalNs: s.TotalNs}
		if r.cfg.sectioned() {
			id := s.ID
			hj.SectionHeader, hj.Section = r.sectionHeader(), strconv.FormatUint(uint64(id), 10)
			if r.cfg.PerThread {
				hj.TID = &id
			} else {
				hj.PID = &id
			}
			hj.Comm = s.Comm
			if comm, ok := procComm(id); ok {
				hj.Comm = strings.TrimSuffix(comm, "\n")
			}
		}
		rep.Histograms = append(rep.Histograms, hj)
		rep.Count += s.Count
		rep.TotalNs += s.TotalNs
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(r.env.Stdout, "%s\n", b)
	return err
}
