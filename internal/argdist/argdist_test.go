package argdist

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/histogram"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// readyTimeout bounds waits; kernels under qemu TCG on a loaded host are slow.
const readyTimeout = 90 * time.Second

// writer is a child process that writes 1..n bytes to fd 77 on demand.
type writer struct {
	tl    *kerneltest.Tool
	stdin io.WriteCloser
	pid   int
}

// startWriter starts a writer: the Go one (kerneltest tool "gowriter") or
// a committed C binary under testdata.
func startWriter(t *testing.T, n int, binary string) *writer {
	t.Helper()
	var cmd *exec.Cmd
	if binary == "" {
		cmd = kerneltest.Command("gowriter", strconv.Itoa(n))
	} else {
		path, err := filepath.Abs(filepath.Join("testdata", binary))
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(path, strconv.Itoa(n))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tl := kerneltest.Start(t, cmd)
	tl.WaitStdout(fmt.Sprintf("ready %d", writerFD), readyTimeout)
	t.Cleanup(func() { stdin.Close() })
	return &writer{tl: tl, stdin: stdin, pid: cmd.Process.Pid}
}

// round makes the Go writer write once and waits until it has.
func (w *writer) round(t *testing.T, k int) {
	t.Helper()
	io.WriteString(w.stdin, "go\n")
	deadline := time.Now().Add(readyTimeout)
	for strings.Count(w.tl.Stdout(), "done\n") < k {
		if time.Now().After(deadline) {
			t.Fatalf("writer did not write:\n%s", w.tl.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writerPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/writer")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run makes a C writer write and waits for it to exit.
func (w *writer) run(t *testing.T) {
	t.Helper()
	io.WriteString(w.stdin, "go\n")
	if st := w.tl.Wait(readyTimeout); st != 0 {
		t.Fatalf("writer exited %d: %s", st, w.tl.Stderr())
	}
}

// startArgdist starts argdist with a long interval (so that the report at
// Ctrl-C is the only one) and waits until it traces.
func startArgdist(t *testing.T, args ...string) *kerneltest.Tool {
	t.Helper()
	tl := kerneltest.StartTool(t, "argdist", append([]string{"-i", "3600"}, args...)...)
	tl.WaitStderr("Tracing", readyTimeout)
	return tl
}

// stop interrupts argdist and returns its output, failing on a bad exit.
func stop(t *testing.T, tl *kerneltest.Tool) string {
	t.Helper()
	if st := tl.Stop(syscall.SIGINT); st != 0 {
		t.Fatalf("argdist exited %d\nstderr:\n%s", st, tl.Stderr())
	}
	return tl.Stdout()
}

// freq returns the COUNT EVENT lines of the section headed label, summed
// over every report.
func freq(t *testing.T, out, label string) map[string]uint64 {
	t.Helper()
	counts := map[string]uint64{}
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == label:
			in = true
		case in && strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "\tCOUNT"):
			f := strings.SplitN(strings.TrimPrefix(l, "\t"), " ", 2)
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil || len(f) != 2 {
				t.Fatalf("bad line %q", l)
			}
			counts[strings.TrimSpace(f[1])] += n
		case in && !strings.HasPrefix(l, "\t"):
			in = false
		}
	}
	return counts
}

var histLine = regexp.MustCompile(`^\s+(\d+) -> (\d+)\s+: (\d+)\s+\|`)

// hist returns the log2 histogram headed valType (slot -> count), summed
// over every report.
func hist(t *testing.T, out, valType string) map[int]uint64 {
	t.Helper()
	slots := map[int]uint64{}
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), valType) && strings.Contains(l, ": count     distribution") {
			in = true
			continue
		}
		m := histLine.FindStringSubmatch(l)
		if !in || m == nil {
			in = false
			continue
		}
		high, _ := strconv.ParseUint(m[2], 10, 64)
		n, _ := strconv.ParseUint(m[3], 10, 64)
		slots[histogram.Log2Slot(high)] += n
	}
	return slots
}

// sizes returns the expected -C counts and -H slots of writes of 1..n bytes
// (from..n with from > 1).
func sizes(from, n int, event string) (map[string]uint64, map[int]uint64) {
	counts, slots := map[string]uint64{}, map[int]uint64{}
	for i := from; i <= n; i++ {
		counts[fmt.Sprintf(event, i)]++
		slots[histogram.Log2Slot(uint64(i))]++
	}
	return counts, slots
}

func equalMaps[K comparable](t *testing.T, what string, got, want map[K]uint64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v: %d, want %d", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && v != 0 {
			t.Errorf("%s: unexpected %v: %d", what, k, v)
		}
	}
}

// TestTracepoint counts a child's writes on syscalls:sys_enter_write.
func TestTracepoint(t *testing.T) {
	kerneltest.Root(t)
	const n = 100
	w := startWriter(t, n, "")
	pid := strconv.Itoa(w.pid)
	cspec := fmt.Sprintf("t:syscalls:sys_enter_write():u64:args->count:args->fd==%d", writerFD)
	hspec := fmt.Sprintf("t:syscalls:sys_enter_write():size_t:args->count:args->fd==%d && $PID == %d#sizes", writerFD, w.pid)
	tspec := fmt.Sprintf("t:syscalls:sys_enter_write():u64:args->count:args->fd==%d#top", writerFD)
	tl := startArgdist(t, "-p", pid, "-C", cspec, "-H", hspec)
	tl5 := startArgdist(t, "-p", pid, "-T", "5", "-C", tspec)
	w.round(t, 1)
	out := stop(t, tl)
	out5 := stop(t, tl5)

	wantCounts, wantSlots := sizes(1, n, "args->count = %d")
	equalMaps(t, "-C", freq(t, out, cspec), wantCounts)
	equalMaps(t, "-H", hist(t, out, "sizes"), wantSlots)
	wantTop, _ := sizes(n-4, n, "args->count = %d")
	equalMaps(t, "-T 5", freq(t, out5, "top"), wantTop)
	if t.Failed() {
		t.Logf("output:\n%s\n%s", out, out5)
	}
}

// TestUprobe traces the C writer's calls of libc's write() inside it (a
// static binary, so that the test runs without libc too), at entry and
// return.
func TestUprobe(t *testing.T) {
	kerneltest.Root(t)
	const n = 64
	w := startWriter(t, n, "writer")
	bin, _ := filepath.Abs("testdata/writer")
	entry := fmt.Sprintf("p:%s:write(int fd, const void *buf, size_t count):size_t:count:fd==%d", bin, writerFD)
	ret := fmt.Sprintf("r:%s:write(int fd):long:$retval:$entry(fd) == %d#retval", bin, writerFD)
	lat := fmt.Sprintf("r:%s:write(int fd, void *buf, size_t count):u64:$entry(count):$latency > 0 && $entry(fd) == %d#latency", bin, writerFD)
	def := fmt.Sprintf("r:%s:write()", bin)
	tl := startArgdist(t, "-p", strconv.Itoa(w.pid), "-C", entry, "-H", ret, "-C", lat, "-C", def)
	w.run(t)
	out := stop(t, tl)

	wantCounts, wantSlots := sizes(1, n, "count = %d")
	equalMaps(t, "p: count", freq(t, out, entry), wantCounts)
	equalMaps(t, "r: $retval", hist(t, out, "retval"), wantSlots)
	wantEntry, _ := sizes(1, n, "$entry(count) = %d")
	equalMaps(t, "r: $entry, $latency", freq(t, out, "latency"), wantEntry)
	wantRet, _ := sizes(1, n, "retval = %d")
	equalMaps(t, "r: default", freq(t, out, def), wantRet)
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestLibc traces write() in libc.so.6 ("c"), called by a dynamic writer.
func TestLibc(t *testing.T) {
	kerneltest.Root(t)
	if _, err := uprobe.FindTarget("c", 0); err != nil {
		t.Skipf("no libc here: %v", err)
	}
	const n = 50
	w := startWriter(t, n, "writer-dyn")
	spec := fmt.Sprintf("p:c:write(int fd, const void *buf, size_t count):size_t:count:fd==%d", writerFD)
	tl := startArgdist(t, "-p", strconv.Itoa(w.pid), "-C", spec)
	w.run(t)
	out := stop(t, tl)
	want, _ := sizes(1, n, "count = %d")
	equalMaps(t, "p:c:write", freq(t, out, spec), want)
}

// TestUSDT reads the writer's USDT probe arguments, a string among them,
// with filters.
func TestUSDT(t *testing.T) {
	kerneltest.Root(t)
	const n = 20
	w := startWriter(t, n, "writer")
	bin, _ := filepath.Abs("testdata/writer")
	all := fmt.Sprintf("u:%s:wrote():int,long,char*:arg1,arg2,arg3:arg2 > 3", bin)
	odd := fmt.Sprintf(`u:%s:wrote():long:arg2:STRCMP("odd", arg3) && arg1 == %d#odd`, bin, writerFD)
	tl := startArgdist(t, "-p", strconv.Itoa(w.pid), "-C", all, "-C", odd)
	w.run(t)
	out := stop(t, tl)
	want := map[string]uint64{}
	wantOdd := map[string]uint64{}
	for i := 4; i <= n; i++ {
		label := "even"
		if i%2 == 1 {
			label = "odd"
		}
		want[fmt.Sprintf("arg1 = %d, arg2 = %d, arg3 = %s", writerFD, i, label)] = 1
	}
	for i := 1; i <= n; i += 2 {
		wantOdd[fmt.Sprintf("arg2 = %d", i)] = 1
	}
	equalMaps(t, "u: all", freq(t, out, all), want)
	equalMaps(t, "u: odd", freq(t, out, "odd"), wantOdd)
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestKernelFunction counts a child's vfs_write() calls at entry and
// return, with each backend the kernel has.
func TestKernelFunction(t *testing.T) {
	for _, b := range []struct {
		name    string
		feature loader.Feature
	}{{"kprobe", loader.Kprobes}, {"fentry", loader.Fentry}} {
		t.Run(b.name, func(t *testing.T) {
			kerneltest.Need(t, b.feature)
			const n = 40
			w := startWriter(t, n, "")
			entry := "p::vfs_write(struct file *file, const char *buf, size_t count):size_t:count:count > 0#entry"
			noSig := "p::vfs_write:u32,size_t:$PID,count#btf"
			ret := fmt.Sprintf("r::vfs_write(struct file *file, const char *buf, size_t count):long:$retval:$latency > 0 && $entry(count) <= %d#retval", n)
			lat := "r::vfs_write(struct file *file, const char *buf, size_t count):size_t:$entry(count):$latency < 10000000000#latency"
			tl := startArgdist(t, "--backend", b.name, "-p", strconv.Itoa(w.pid), "-C", entry, "-C", noSig, "-H", ret, "-C", lat)
			w.round(t, 1)
			out := stop(t, tl)
			// The writer's "done" line is a write too.
			wantCounts, wantSlots := sizes(1, n, "count = %d")
			wantCounts["count = 5"]++
			equalMaps(t, "p::", freq(t, out, "entry"), wantCounts)
			wantBTF := map[string]uint64{}
			for k, v := range wantCounts {
				wantBTF[fmt.Sprintf("$PID = %d, %s", w.pid, k)] = v
			}
			equalMaps(t, "p:: without signature", freq(t, out, "btf"), wantBTF)
			wantSlots[histogram.Log2Slot(5)]++
			equalMaps(t, "r:: $retval", hist(t, out, "retval"), wantSlots)
			wantEntry, _ := sizes(1, n, "$entry(count) = %d")
			wantEntry["$entry(count) = 5"]++
			equalMaps(t, "r:: $entry", freq(t, out, "latency"), wantEntry)
			if t.Failed() {
				t.Logf("output:\n%s\nstderr:\n%s", out, tl.Stderr())
			}
		})
	}
}
