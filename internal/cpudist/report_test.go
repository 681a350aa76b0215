package cpudist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

// noPID is above PID_MAX_LIMIT: /proc never has it.
const noPID = 1<<22 + 1

func buckets(counts ...uint64) []uint64 {
	return append([]uint64{0}, counts...)
}

func render(t *testing.T, cfg Config, sections []Section) string {
	t.Helper()
	var out bytes.Buffer
	r := newReporter(nil, cfg, cli.Env{Stdout: &out, Stderr: io.Discard})
	at := time.Date(2026, 11, 24, 3, 46, 51, 0, time.Local)
	var err error
	if cfg.JSON {
		err = r.writeJSON(at, sections)
	} else {
		err = r.writeText(at, sections)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestWriteText checks the text layout against bcc's cpudist.py: print()
// before each report, the time with -T, print_log2_hist with a section
// label from /proc/PID/comm (newline included), and -e's line.
func TestWriteText(t *testing.T) {
	self := os.Getpid()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		cfg      Config
		sections []Section
		want     string
	}{
		{"empty", Config{}, nil, "\n"},
		{"system-wide -e", Config{Extended: true},
			[]Section{{Buckets: buckets(3, 10), TotalNs: 25500, Count: 13}},
			"\n" +
				"     usecs               : count     distribution\n" +
				"         0 -> 1          : 3        |************                            |\n" +
				"         2 -> 3          : 10       |****************************************|\n" +
				"\navg = 1 usecs, total: 25 usecs, count: 13\n\n"},
		{"-mT", Config{Milliseconds: true, Timestamp: true},
			[]Section{{Buckets: buckets(0, 0, 1), TotalNs: 5e6, Count: 1}},
			"\n03:46:51\n" +
				"     msecs               : count     distribution\n" +
				"         0 -> 1          : 0        |                                        |\n" +
				"         2 -> 3          : 0        |                                        |\n" +
				"         4 -> 7          : 1        |****************************************|\n"},
		{"-P", Config{PerProcess: true}, []Section{
			{ID: 0, Comm: "swapper/0", Buckets: buckets(1), Count: 1},
			{ID: uint32(self), Comm: "ignored", Buckets: buckets(1), Count: 1},
			{ID: noPID, Comm: "gone", Buckets: buckets(1), Count: 1},
			{ID: noPID + 1, Buckets: buckets(1), Count: 1},
		}, "\n" +
			"\npid = 0\n" +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 1        |****************************************|\n" +
			fmt.Sprintf("\npid = %d %s\n", self, comm) +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 1        |****************************************|\n" +
			fmt.Sprintf("\npid = %d gone\n\n", noPID) +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 1        |****************************************|\n" +
			fmt.Sprintf("\npid = %d\n", noPID+1) +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 1        |****************************************|\n"},
		{"-L -e", Config{PerThread: true, Extended: true}, []Section{
			{ID: noPID, Comm: "t1", Buckets: buckets(0, 2), TotalNs: 5000, Count: 2},
			{ID: noPID + 1, Comm: "t2", Buckets: buckets(2), TotalNs: 1000, Count: 2},
		}, "\n" +
			fmt.Sprintf("\ntid = %d t1\n\n", noPID) +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 0        |                                        |\n" +
			"         2 -> 3          : 2        |****************************************|\n" +
			fmt.Sprintf("\ntid = %d t2\n\n", noPID+1) +
			"     usecs               : count     distribution\n" +
			"         0 -> 1          : 2        |****************************************|\n" +
			"\navg = 1 usecs, total: 6 usecs, count: 4\n\n"},
	}
	for _, c := range cases {
		if got := render(t, c.cfg, c.sections); got != c.want {
			t.Errorf("%s: got\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	self := os.Getpid()
	comm, _ := os.ReadFile("/proc/self/comm")
	out := render(t, Config{JSON: true, OffCPU: true, PerThread: true}, []Section{
		{ID: uint32(self), Buckets: buckets(1, 2), TotalNs: 4000, Count: 3},
		{ID: noPID, Comm: "gone", Buckets: buckets(0, 0, 0, 1), TotalNs: 5000, Count: 1},
	})
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one line, got %q", out)
	}
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Mode != "off-cpu" || r.Unit != "usecs" || r.Count != 4 || r.TotalNs != 9000 || len(r.Histograms) != 2 ||
		!strings.HasPrefix(r.Time, "2026-11-24T03:46:51.000") {
		t.Fatalf("bad report %s", out)
	}
	h := r.Histograms[0]
	if h.TID == nil || int(*h.TID) != self || h.PID != nil || h.Comm != strings.TrimSpace(string(comm)) ||
		h.SectionHeader != "tid" || h.Section != fmt.Sprint(self) || h.Count != 3 || h.TotalNs != 4000 ||
		len(h.Buckets) != 2 || h.Buckets[1].Low != 2 || h.Buckets[1].High != 3 || h.Buckets[1].Count != 2 {
		t.Errorf("bad histogram %+v", h)
	}
	if h := r.Histograms[1]; h.Comm != "gone" || len(h.Buckets) != 4 {
		t.Errorf("bad histogram %+v", h)
	}

	// System-wide and nothing: an empty list, not null.
	out = render(t, Config{JSON: true}, nil)
	if !strings.Contains(out, `"histograms":[]`) || !strings.Contains(out, `"mode":"on-cpu"`) {
		t.Errorf("got %s", out)
	}
}
