package compiler

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/probespec"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// TargetKind is what a Target hooks.
type TargetKind int

const (
	// TargetKernel is a kernel function (kprobe or kprobe_multi).
	TargetKernel TargetKind = iota + 1
	// TargetTracepoint is a kernel tracepoint.
	TargetTracepoint
	// TargetUser is a function of a user-space binary (uprobe).
	TargetUser
	// TargetUSDT is a USDT probe: uprobes on each of its call sites.
	TargetUSDT
)

// Target is one probe point a pattern expanded to.
type Target struct {
	Kind TargetKind
	// Name is what reports show: the function, "CAT:EVENT" for
	// tracepoints, the probe's name for USDT.
	Name string
	// Path is the binary as the user's namespace sees it, HostPath the
	// same file as this process opens it (user functions and USDT).
	Path, HostPath string
	// Sites are the file offsets to put uprobes at (one for a user
	// function, one per call site for USDT), RefCtr the USDT semaphores'
	// file offsets (0: none).
	Sites, RefCtr []uint64
}

// DefaultMaxTargets is bcc's probe limit (BPF.get_probe_limit).
const DefaultMaxTargets = 1000

// Errors of Expand, for the tools' messages and exit statuses.
var (
	ErrNoMatch  = errors.New("no probe points match")
	ErrTooMany  = errors.New("too many probe points match")
	ErrNoKernel = errors.New("cannot list kernel functions")
)

// ExpandOptions configure Expand.
type ExpandOptions struct {
	// PID looks binaries up in that process (its libraries, its mount
	// namespace); with u: patterns, also the libraries it loaded.
	PID int
	// Max bounds the number of targets (default DefaultMaxTargets).
	Max int
	// Tracefs is where tracefs is mounted (default: found).
	Tracefs string
}

// Expand lists the probe points a funccount pattern matches, sorted by
// name: kernel functions from tracefs' available_filter_functions (those
// ftrace, and so kprobes, can hook; /proc/kallsyms where it is missing)
// less the kprobe blacklist, tracepoints from tracefs' events directory,
// user functions from the binary's ELF symbol tables, USDT probes from its
// notes.
func Expand(p *probespec.Pattern, opts ExpandOptions) ([]Target, error) {
	if opts.Max == 0 {
		opts.Max = DefaultMaxTargets
	}
	var (
		ts  []Target
		err error
	)
	switch {
	case p.Kind == probespec.PatternTracepoint:
		ts, err = expandTracepoints(p, opts)
	case p.Kind == probespec.PatternUSDT:
		ts, err = expandUSDT(p, opts)
	case p.Library != "":
		ts, err = expandUser(p, opts)
	default:
		ts, err = expandKernel(p, opts)
	}
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w %q", ErrNoMatch, p.Text)
	}
	if len(ts) > opts.Max {
		return nil, fmt.Errorf("%w: %q matches %d, at most %d can be traced at once: narrow it", ErrTooMany, p.Text, len(ts), opts.Max)
	}
	slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	return ts, nil
}

func expandTracepoints(p *probespec.Pattern, opts ExpandOptions) ([]Target, error) {
	tracefs, err := findTracefs(opts.Tracefs)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tracefs, "events")
	var ts []Target
	for _, cat := range listDir(dir) {
		for _, ev := range listDir(filepath.Join(dir, cat)) {
			if name := cat + ":" + ev; p.Match(name) {
				ts = append(ts, Target{Kind: TargetTracepoint, Name: name})
			}
		}
	}
	return ts, nil
}

// kernelFuncsSkipped are names bcc's get_kprobe_functions leaves out: not
// attachable (NOKPROBE_SYMBOL markers, perf internals, static calls,
// gcc's .cold parts).
var kernelFuncsSkipped = regexp.MustCompile(`^(_kbl_addr_|__perf|perf_|__SCT__)|\.cold(\.\d+)?$`)

func expandKernel(p *probespec.Pattern, opts ExpandOptions) ([]Target, error) {
	names, err := kernelFunctions(opts.Tracefs)
	if err != nil {
		return nil, err
	}
	var ts []Target
	for _, n := range names {
		if p.Match(n) {
			ts = append(ts, Target{Kind: TargetKernel, Name: n})
		}
	}
	return ts, nil
}

// kernelFunctions lists the kernel functions kprobes can hook, each once.
func kernelFunctions(tracefsDir string) ([]string, error) {
	black := map[string]bool{}
	if lines, err := readLines("/sys/kernel/debug/kprobes/blacklist"); err == nil {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) >= 2 {
				black[f[1]] = true
			}
		}
	}
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] && !black[n] && !kernelFuncsSkipped.MatchString(n) {
			seen[n] = true
			names = append(names, n)
		}
	}
	tracefs, err := findTracefs(tracefsDir)
	if err == nil {
		if lines, err := readLines(filepath.Join(tracefs, "available_filter_functions")); err == nil {
			for _, l := range lines {
				if f := strings.Fields(l); len(f) > 0 {
					add(f[0])
				}
			}
			return names, nil
		}
	}
	lines, err := readLines("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKernel, err)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[1] == "t" || f[1] == "T" || f[1] == "w" || f[1] == "W") {
			add(f[2])
		}
	}
	return names, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// expandUser matches a binary's functions by their names without symbol
// versions. As bcc does, a function is taken once, and so is an address
// (aliases such as a weak and a strong name for one function). Indirect
// functions (IFUNC) are left out: a uprobe there counts the dynamic
// linker's binding, not calls.
func expandUser(p *probespec.Pattern, opts ExpandOptions) ([]Target, error) {
	t, err := uprobe.FindTarget(p.Library, opts.PID)
	if err != nil {
		return nil, err
	}
	f, err := t.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Functions()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	seenName, seenAddr := map[string]bool{}, map[uint64]bool{}
	var ts []Target
	for _, n := range names {
		base, _, _ := strings.Cut(n, "@")
		if base == "" || seenName[base] || !p.Match(base) {
			continue
		}
		sym, err := f.LookupFunction(n)
		if err != nil || sym.IFunc || sym.Offset == 0 || seenAddr[sym.Offset] {
			continue
		}
		seenName[base], seenAddr[sym.Offset] = true, true
		ts = append(ts, Target{Kind: TargetUser, Name: base, Path: t.Path, HostPath: t.HostPath, Sites: []uint64{sym.Offset}, RefCtr: []uint64{0}})
		if len(ts) > 4*DefaultMaxTargets+opts.Max {
			break // far too many already
		}
	}
	return ts, nil
}

// expandUSDT matches the USDT probes of a binary by name (the provider is
// not part of it, as in bcc). Call sites whose arguments cannot be read
// are counted all the same: funccount reads no arguments.
func expandUSDT(p *probespec.Pattern, opts ExpandOptions) ([]Target, error) {
	sites, err := usdt.Probes(p.Library, opts.PID)
	if err != nil {
		return nil, err
	}
	byName := map[string]int{}
	var ts []Target
	for _, s := range sites {
		if !p.Match(s.Name) || s.Offset == 0 || s.Err != nil && !errors.Is(s.Err, usdt.ErrBadArg) {
			continue
		}
		key := s.Target.HostPath + "\x00" + s.FullName()
		i, ok := byName[key]
		if !ok {
			i = len(ts)
			byName[key] = i
			ts = append(ts, Target{Kind: TargetUSDT, Name: s.Name, Path: s.Target.Path, HostPath: s.Target.HostPath})
		}
		ts[i].Sites = append(ts[i].Sites, s.Offset)
		ts[i].RefCtr = append(ts[i].RefCtr, s.SemaphoreOffset)
	}
	return ts, nil
}
