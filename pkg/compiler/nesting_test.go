package compiler

import (
	"os"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

// TestLoadNesting loads return probes keeping a stack of entries per
// thread (Options.Nesting), in one shared map or one each, with totals.
func TestLoadNesting(t *testing.T) {
	kerneltest.Root(t)
	exe := funcs(t)
	for _, tt := range []struct {
		specs []string
		opts  Options
	}{
		{[]string{"r:" + exe + ":pair_sum():u64,u64:$latency/1000,$latency"}, Options{Nesting: 1}},
		{[]string{"r:" + exe + ":pair_sum():u64,u64:$latency,$latency", "r:" + exe + ":add6():u64:$latency"}, Options{Nesting: MaxNesting, SharedEntry: true}},
		{[]string{"r:" + exe + ":pair_sum(int fd, char *s):u64,u64:$latency,$entry(fd):$entry(s) != 0"}, Options{Nesting: 5, PID: os.Getpid()}},
		{[]string{"r:" + exe + ":pair_sum():u64:$latency", "r:" + exe + ":add6():u64:$latency"}, Options{SharedEntry: true}},
	} {
		t.Run(strings.Join(tt.specs, " "), func(t *testing.T) {
			var probes []Probe
			for _, s := range tt.specs {
				probes = append(probes, probe(t, s, Log2))
			}
			coll, err := Compile(probes, tt.opts)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			entry := "p0_entry"
			if tt.opts.SharedEntry {
				entry = SharedEntryMap
			}
			if _, ok := coll.Spec.Maps[entry]; !ok {
				t.Errorf("no entry map %s", entry)
			}
			if n := len(probes[0].Values); coll.Spec.Maps["p0_hist"].MaxEntries != uint32(Log2Slots+n-1) {
				t.Errorf("p0_hist has %d slots, want %d", coll.Spec.Maps["p0_hist"].MaxEntries, Log2Slots+n-1)
			}
			if err := load(coll); err != nil {
				t.Fatalf("load: %v\n%s", err, coll.Listing())
			}
		})
	}
}

func TestNestingErrors(t *testing.T) {
	exe := funcs(t)
	for _, tt := range []struct {
		specs []string
		opts  Options
		want  string
	}{
		{[]string{"r:" + exe + ":pair_sum():u64:$latency"}, Options{Nesting: MaxNesting + 1}, "nesting 33: want 0 to 32 levels"},
		{[]string{"r:" + exe + ":pair_sum(int fd, char *s):u64:$entry(fd)+$entry(s)"}, Options{Nesting: MaxNesting}, "nest fewer levels"},
		{[]string{"r:" + exe + ":pair_sum():u64:$latency", "r:" + exe + ":pair_sum(int fd):u64:$entry(fd)"}, Options{SharedEntry: true}, "sharing one entry map"},
		{[]string{"r:" + exe + ":pair_sum():u64,char*:$latency,$COMM"}, Options{}, "a histogram needs a number"},
		{[]string{"r:" + exe + ":pair_sum():u64,u64,u64:$latency,$latency,$latency"}, Options{}, "one value and optionally one to total"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			var probes []Probe
			for _, s := range tt.specs {
				probes = append(probes, probe(t, s, Log2))
			}
			if _, err := Compile(probes, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile: %v, want ...%s...", err, tt.want)
			}
		})
	}
}
