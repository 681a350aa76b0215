package funccount

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/compiler"
	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// BenchmarkAttach measures opening (compile, load, attach) and closing a
// counter on 100 functions of fcprog, which no other process runs, in each
// attach mode the kernel has. "programs" (a program and a link per
// function, what bcc does) is the baseline; each sub-benchmark reports
// ms/open and the speedup over the baseline measured in the same run.
func BenchmarkAttach(b *testing.B) {
	kerneltest.Root(b)
	path, err := filepath.Abs("testdata/fcprog")
	if err != nil {
		b.Fatal(err)
	}
	p, err := probespec.ParsePattern(path+":*", false)
	if err != nil {
		b.Fatal(err)
	}
	targets, err := compiler.Expand(p, compiler.ExpandOptions{Max: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	if len(targets) < 100 {
		b.Fatalf("fcprog has %d functions, want 100", len(targets))
	}
	targets = targets[:100]
	open := func(b *testing.B, mode compiler.AttachMode) time.Duration {
		start := time.Now()
		obj, _, err := compiler.OpenCounter(targets, compiler.CounterOptions{Mode: mode}, compiler.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		obj.Close()
		return time.Since(start)
	}
	var baseline time.Duration
	for range 2 {
		baseline += open(b, compiler.AttachPrograms)
	}
	baseline /= 2
	for _, mode := range []compiler.AttachMode{compiler.AttachMulti, compiler.AttachCookies, compiler.AttachPrograms} {
		b.Run(string(mode), func(b *testing.B) {
			if _, err := compiler.ChooseAttachMode(compiler.TargetUser, mode); err != nil {
				b.Skip(err)
			}
			var total time.Duration
			for b.Loop() {
				total += open(b, mode)
			}
			ms := float64(total.Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/open")
			b.ReportMetric(float64(baseline.Microseconds())/1000, "baseline-ms/open")
			b.ReportMetric(float64(baseline.Microseconds())/1000/ms, "speedup")
		})
	}
}
