// Package tplist is bcc's tplist: it lists the kernel's tracepoints (with
// their fields under -v) or the USDT probes of a binary, a library or a
// process (with their locations and arguments under -vv).
package tplist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/cli"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

// Run lists what cfg asks for.
func Run(ctx context.Context, env cli.Env, cfg Config) error {
	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	if cfg.PID != 0 || cfg.Lib != "" {
		return listUSDT(w, cfg)
	}
	return listTracepoints(w, cfg, eventDirs)
}

// checkFilter rejects a malformed wildcard (fnmatch's syntax: *, ?, [...]).
func checkFilter(f string) error {
	if _, err := path.Match(f, ""); err != nil {
		return cli.Usagef("filter %q: %v", f, err)
	}
	return nil
}

func match(filter, name string) bool {
	if filter == "" {
		return true
	}
	ok, _ := path.Match(filter, name)
	return ok
}

// eventDirs are where tracefs keeps the tracepoints, newest mount first.
var eventDirs = []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}

// listTracepoints prints category:event for every tracepoint the filter
// matches, sorted, with -v its fields.
func listTracepoints(w io.Writer, cfg Config, dirs []string) error {
	root := ""
	var firstErr error
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			root = d
			break
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if root == "" {
		return fmt.Errorf("no tracefs events directory (%s): mount it with: mount -t tracefs nodev /sys/kernel/tracing (%w)", strings.Join(dirs, ", "), firstErr)
	}
	cats, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%s: %w (listing tracepoints needs root)", root, err)
		}
		return err
	}
	for _, c := range cats {
		if !c.IsDir() {
			continue
		}
		events, err := os.ReadDir(filepath.Join(root, c.Name()))
		if err != nil {
			continue
		}
		for _, e := range events {
			name := c.Name() + ":" + e.Name()
			if !e.IsDir() || !match(cfg.Filter, name) {
				continue
			}
			fmt.Fprintln(w, name)
			if cfg.Verbosity > 0 {
				fields, err := readFields(filepath.Join(root, c.Name(), e.Name(), "format"))
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				for _, f := range fields {
					fmt.Fprintf(w, "    %s %s;\n", f.typ, f.name)
				}
			}
		}
	}
	return nil
}

type field struct{ typ, name string }

// readFields reads a tracepoint's format file.
func readFields(p string) ([]field, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseFormat(f)
}

// parseFormat returns the fields of a format file but the common_ ones,
// as bcc prints them: "field:unsigned int nr_sector;" is type
// "unsigned int", name "nr_sector"; "char rwbs[10]" keeps "[10]" in the
// name.
func parseFormat(r io.Reader) ([]field, error) {
	var fields []field
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		decl, ok := strings.CutPrefix(line, "field:")
		if !ok {
			continue
		}
		decl, _, ok = strings.Cut(decl, ";")
		if !ok {
			continue
		}
		parts := strings.Fields(decl)
		if len(parts) < 2 {
			continue
		}
		name := parts[len(parts)-1]
		if strings.HasPrefix(name, "common_") {
			continue
		}
		fields = append(fields, field{typ: strings.Join(parts[:len(parts)-1], " "), name: name})
	}
	return fields, s.Err()
}

// probe is one USDT probe of one binary with its call sites.
type probe struct {
	provider, name string
	bin            string
	semaphore      uint64
	sites          []usdt.Probe
}

// listUSDT prints the USDT probes of cfg.Lib (in cfg.PID's mount
// namespace if set) or of every binary process cfg.PID maps.
func listUSDT(w io.Writer, cfg Config) error {
	sites, err := usdt.Probes(cfg.Lib, cfg.PID)
	if err != nil {
		return err
	}
	probes := group(sites)
	seen := map[string]bool{}
	for _, p := range probes {
		short := p.provider + ":" + p.name
		if !match(cfg.Filter, short) || seen[short] {
			continue
		}
		seen[short] = true
		printProbe(w, p, cfg.Verbosity)
	}
	return nil
}

// group gathers call sites into probes: one per binary, provider and name,
// in the order of their first call site.
func group(sites []usdt.Probe) []*probe {
	type key struct{ bin, provider, name string }
	byKey := map[key]*probe{}
	var out []*probe
	for _, s := range sites {
		k := key{s.Target.Path, s.Provider, s.Name}
		p, ok := byKey[k]
		if !ok {
			p = &probe{provider: s.Provider, name: s.Name, bin: s.Target.Path}
			byKey[k] = p
			out = append(out, p)
		}
		if p.semaphore == 0 {
			p.semaphore = s.Semaphore
		}
		p.sites = append(p.sites, s)
	}
	return out
}

// printProbe prints a probe as bcc's tplist does at each verbosity.
func printProbe(w io.Writer, p *probe, verbosity int) {
	if verbosity == 0 {
		fmt.Fprintf(w, "%s %s:%s\n", p.bin, p.provider, p.name)
		return
	}
	fmt.Fprintf(w, "%s:%s [sema 0x%x]\n", p.provider, p.name, p.semaphore)
	if verbosity == 1 {
		fmt.Fprintf(w, "  %d location(s)\n", len(p.sites))
		fmt.Fprintf(w, "  %d argument(s)\n", nargs(p.sites[0]))
		return
	}
	for i, s := range p.sites {
		fmt.Fprintf(w, "  location #%d %s 0x%x\n", i+1, s.Target.Path, s.Location)
		if s.Args == nil && s.ArgString != "" {
			for j, a := range strings.Fields(s.ArgString) {
				fmt.Fprintf(w, "    argument #%d %s (unrecognized: %v)\n", j+1, a, s.Err)
			}
			continue
		}
		for j, a := range s.Args {
			fmt.Fprintf(w, "    argument #%d %s\n", j+1, a)
		}
	}
}

func nargs(s usdt.Probe) int {
	if s.Args != nil {
		return len(s.Args)
	}
	return len(strings.Fields(s.ArgString))
}
