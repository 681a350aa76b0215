package tcpconnect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
)

const readyTimeout = 20 * time.Second

// backends are the backends of Plan with the feature each needs.
var backends = []struct {
	name string
	need []loader.Feature
}{
	{"tracepoint", nil},
	{"kprobe", []loader.Feature{loader.Kprobes}},
	{"fentry", []loader.Feature{loader.Fentry}},
}

// peers is a listener and a closed port, on IPv4 and IPv6 loopback.
type peers struct {
	open4, closed4, open6, closed6 string
}

func newPeers(t *testing.T) peers {
	t.Helper()
	listen := func(network, addr string) string {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return l.Addr().String()
	}
	closed := func(network, addr string) string {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	}
	return peers{
		open4:   listen("tcp4", "127.0.0.1:0"),
		closed4: closed("tcp4", "127.0.0.1:0"),
		open6:   listen("tcp6", "[::1]:0"),
		closed6: closed("tcp6", "[::1]:0"),
	}
}

// child is a connector process waiting for the go signal.
type child struct {
	pid   int
	comm  string
	stdin io.WriteCloser
	tool  *kerneltest.Tool
}

func startChild(t *testing.T, cred *syscall.Credential, addrs ...string) *child {
	t.Helper()
	cmd := kerneltest.Command("connector", addrs...)
	if cred != nil {
		cmd.Path = worldExecutableCopy(t)
		cmd.Args[0] = cmd.Path
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tl := kerneltest.Start(t, cmd)
	tl.WaitStdout("comm ", readyTimeout)
	comm := ""
	for _, l := range strings.Split(tl.Stdout(), "\n") {
		if c, ok := strings.CutPrefix(l, "comm "); ok {
			comm = c
		}
	}
	return &child{pid: cmd.Process.Pid, comm: comm, stdin: stdin, tool: tl}
}

// run lets the child connect and waits for it to finish.
func (c *child) run(t *testing.T) {
	t.Helper()
	fmt.Fprintln(c.stdin, "go")
	c.tool.WaitStdout("done", readyTimeout)
	c.tool.Wait(readyTimeout)
}

// worldExecutableCopy copies the test binary where an unprivileged user can
// run it.
func worldExecutableCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bpfscope-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tcpconnect.test")
	if err := os.WriteFile(p, self, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTool starts tool with --json and waits until it is attached.
func startTool(t *testing.T, tool string, args ...string) *kerneltest.Tool {
	t.Helper()
	tl := kerneltest.StartTool(t, tool, append([]string{"--json"}, args...)...)
	tl.WaitStderr(readyBanner, readyTimeout)
	return tl
}

// stopTool interrupts the tool, checks it exits 0 and releases what it
// attached, and returns its records.
func stopTool(t *testing.T, tl *kerneltest.Tool, sig syscall.Signal) []Record {
	t.Helper()
	held, err := kerneltest.HeldBy(tl.Cmd.Process.Pid)
	if err != nil {
		t.Fatalf("held by tool: %v", err)
	}
	// Before 5.15 kprobes and tracepoints attach through perf events
	// without a BPF link.
	if len(held.Programs) == 0 || len(held.Links)+held.Perf == 0 {
		t.Errorf("tool holds %d programs, %d links and %d perf events while running, want some", len(held.Programs), len(held.Links), held.Perf)
	}
	if code := tl.Stop(sig); code != 0 {
		t.Fatalf("tool exited %d after %v, want 0\nstderr:\n%s", code, sig, tl.Stderr())
	}
	kerneltest.AssertReleased(t, held)
	return parseRecords(t, tl.Stdout())
}

func parseRecords(t *testing.T, out string) []Record {
	t.Helper()
	var recs []Record
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// key is what the tests compare: who connected where.
type key struct {
	pid   uint32
	comm  string
	uid   uint32
	ip    int
	daddr string
	dport uint16
}

func keyOf(t *testing.T, pid int, comm string, uid uint32, addr string) key {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ip := 4
	if ap.Addr().Is6() {
		ip = 6
	}
	return key{uint32(pid), comm, uid, ip, ap.Addr().String(), ap.Port()}
}

// mine keeps the records of the given pids, to ports the test owns.
func mine(recs []Record, pids []int, ports map[uint16]bool) []key {
	var keys []key
	for _, r := range recs {
		if slices.Contains(pids, int(r.PID)) && ports[r.Dport] {
			keys = append(keys, key{r.PID, r.Comm, r.UID, r.IP, r.Daddr, r.Dport})
		}
	}
	return keys
}

func sortedKeys(k []key) []key {
	slices.SortFunc(k, func(a, b key) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return k
}

func portOf(addr string) uint16 {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

func selfComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitFor polls the tool's output until want records of ours arrived.
func waitFor(tl *kerneltest.Tool, n int, pids []int, ports map[uint16]bool) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var recs []Record
		for _, l := range strings.Split(tl.Stdout(), "\n") {
			var r Record
			if json.Unmarshal([]byte(l), &r) == nil {
				recs = append(recs, r)
			}
		}
		if len(mine(recs, pids, ports)) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnects checks, on every backend the kernel has, that connects from
// the test process and from a child, to open and closed ports on IPv4 and
// IPv6, give exactly those events with the right fields.
func TestConnects(t *testing.T) {
	for _, be := range backends {
		for _, tool := range []string{"tcpconnect", "tcpv4connect"} {
			t.Run(be.name+"/"+tool, func(t *testing.T) {
				kerneltest.Need(t, be.need...)
				testConnects(t, tool, be.name)
			})
		}
	}
}

func testConnects(t *testing.T, tool, backend string) {
	p := newPeers(t)
	ports := map[uint16]bool{portOf(p.open4): true, portOf(p.closed4): true, portOf(p.open6): true, portOf(p.closed6): true}
	childAddrs := []string{p.open4, p.closed4, p.open6}
	c := startChild(t, nil, childAddrs...)

	tl := startTool(t, tool, "-v", "--backend", backend)
	if !strings.Contains(tl.Stderr(), "backend "+backend+",") {
		t.Errorf("-v does not name backend %s:\n%s", backend, tl.Stderr())
	}

	const n = 3
	self := os.Getpid()
	comm := selfComm(t)
	var want []key
	for range n {
		for _, a := range []string{p.open4, p.closed4, p.open6, p.closed6} {
			dial(a)
			want = append(want, keyOf(t, self, comm, 0, a))
		}
	}
	c.run(t)
	for _, a := range childAddrs {
		want = append(want, keyOf(t, c.pid, c.comm, 0, a))
	}
	if tool == "tcpv4connect" {
		want = slices.DeleteFunc(want, func(k key) bool { return k.ip == 6 })
	}
	pids := []int{self, c.pid}
	waitFor(tl, len(want), pids, ports)
	recs := stopTool(t, tl, syscall.SIGINT)
	got := mine(recs, pids, ports)
	if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
		t.Errorf("events differ\n got %d: %v\nwant %d: %v", len(got), sortedKeys(got), len(want), sortedKeys(want))
	}
	for _, r := range recs {
		if !slices.Contains(pids, int(r.PID)) || !ports[r.Dport] {
			continue
		}
		wantSaddr := "127.0.0.1"
		if r.IP == 6 {
			wantSaddr = "::1"
		}
		if r.Saddr != wantSaddr || r.Lport == 0 || (r.PID == uint32(self) && r.TID == 0) {
			t.Errorf("bad record %+v: want saddr %s, a local port and a tid", r, wantSaddr)
		}
	}
}

// TestFilters checks -p, -P, -u and -4/-6 against events that must and must
// not pass them.
func TestFilters(t *testing.T) {
	kerneltest.Root(t)
	p := newPeers(t)
	ports := map[uint16]bool{portOf(p.open4): true, portOf(p.closed4): true, portOf(p.open6): true}
	self := os.Getpid()
	comm := selfComm(t)

	t.Run("pid", func(t *testing.T) {
		c := startChild(t, nil, p.open4, p.closed4)
		tl := startTool(t, "tcpconnect", "-p", strconv.Itoa(c.pid))
		dial(p.open4) // from the test process: filtered out
		c.run(t)
		pids := []int{self, c.pid}
		waitFor(tl, 2, pids, ports)
		got := mine(stopTool(t, tl, syscall.SIGINT), pids, ports)
		want := []key{keyOf(t, c.pid, c.comm, 0, p.open4), keyOf(t, c.pid, c.comm, 0, p.closed4)}
		if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
			t.Errorf("-p %d: got %v, want %v", c.pid, got, want)
		}
	})

	t.Run("ports", func(t *testing.T) {
		tl := startTool(t, "tcpconnect", "-P", fmt.Sprintf("%d,%d", portOf(p.closed4), portOf(p.open6)))
		dial(p.open4)
		dial(p.closed4)
		dial(p.open6)
		want := []key{keyOf(t, self, comm, 0, p.closed4), keyOf(t, self, comm, 0, p.open6)}
		waitFor(tl, 2, []int{self}, ports)
		got := mine(stopTool(t, tl, syscall.SIGTERM), []int{self}, ports)
		if !slices.Equal(sortedKeys(got), sortedKeys(want)) {
			t.Errorf("-P: got %v, want %v", got, want)
		}
	})

	t.Run("uid", func(t *testing.T) {
		const nobody = 65534
		c := startChild(t, &syscall.Credential{Uid: nobody, Gid: nobody}, p.open4, p.open6)
		tl := startTool(t, "tcpconnect", "-u", strconv.Itoa(nobody), "-4")
		dial(p.open4) // uid 0: filtered out
		c.run(t)
		pids := []int{self, c.pid}
		waitFor(tl, 1, pids, ports)
		got := mine(stopTool(t, tl, syscall.SIGINT), pids, ports)
		want := []key{keyOf(t, c.pid, c.comm, nobody, p.open4)} // -4 drops the IPv6 connect
		if !slices.Equal(got, want) {
			t.Errorf("-u %d -4: got %v, want %v", nobody, got, want)
		}
	})

	t.Run("ipv6", func(t *testing.T) {
		tl := startTool(t, "tcpconnect", "-6")
		dial(p.open4)
		dial(p.open6)
		waitFor(tl, 1, []int{self}, ports)
		got := mine(stopTool(t, tl, syscall.SIGINT), []int{self}, ports)
		want := []key{keyOf(t, self, comm, 0, p.open6)}
		if !slices.Equal(got, want) {
			t.Errorf("-6: got %v, want %v", got, want)
		}
	})
}

// TestCount checks -c: per source, destination and port counts at exit.
func TestCount(t *testing.T) {
	kerneltest.Root(t)
	p := newPeers(t)
	tl := startTool(t, "tcpconnect", "-c")
	for range 5 {
		dial(p.open4)
	}
	for range 2 {
		dial(p.closed6)
	}
	time.Sleep(100 * time.Millisecond)
	held, _ := kerneltest.HeldBy(tl.Cmd.Process.Pid)
	if code := tl.Stop(syscall.SIGINT); code != 0 {
		t.Fatalf("exit %d\n%s", code, tl.Stderr())
	}
	kerneltest.AssertReleased(t, held)
	counts := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(tl.Stdout()))
	for sc.Scan() {
		var r CountRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		counts[net.JoinHostPort(r.Daddr, strconv.Itoa(int(r.Dport)))] += r.Connects
	}
	if counts[p.open4] != 5 || counts[p.closed6] != 2 {
		t.Errorf("counts %v: want 5 for %s and 2 for %s", counts, p.open4, p.closed6)
	}
}

// TestCountText checks -c's bcc table.
func TestCountText(t *testing.T) {
	kerneltest.Root(t)
	p := newPeers(t)
	tl := kerneltest.StartTool(t, "tcpconnect", "-c", "-P", strconv.Itoa(int(portOf(p.open4))))
	tl.WaitStdout(readyBanner, readyTimeout)
	for range 3 {
		dial(p.open4)
	}
	time.Sleep(100 * time.Millisecond)
	if code := tl.Stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, tl.Stderr())
	}
	want := readyBanner + fmt.Sprintf("\n\n%-25s %-25s %-20s %-10s\n%-25s %-25s %-20d %-10d\n", "LADDR", "RADDR", "RPORT", "CONNECTS", "127.0.0.1", "127.0.0.1", portOf(p.open4), 3)
	if tl.Stdout() != want {
		t.Errorf("stdout:\n%q\nwant:\n%q", tl.Stdout(), want)
	}
}

// TestTextOutput checks the bcc columns of both tools.
func TestTextOutput(t *testing.T) {
	kerneltest.Root(t)
	p := newPeers(t)
	port := portOf(p.open4)
	comm := selfComm(t)
	for _, tc := range []struct {
		tool, header, line string
	}{
		{"tcpv4connect", "PID    COMM         SADDR            DADDR            DPORT",
			fmt.Sprintf("%-6d %-12.12s %-16s %-16s %-4d", os.Getpid(), comm, "127.0.0.1", "127.0.0.1", port)},
		{"tcpconnect", "PID     COMM         IP SADDR            DADDR            DPORT ",
			fmt.Sprintf("%-7d %-12.12s %-2d %-16s %-16s %-6d", os.Getpid(), comm, 4, "127.0.0.1", "127.0.0.1", port)},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			tl := kerneltest.StartTool(t, tc.tool, "-P", strconv.Itoa(int(port)))
			tl.WaitStdout("PID", readyTimeout)
			dial(p.open4)
			tl.WaitStdout(strconv.Itoa(os.Getpid()), 5*time.Second)
			tl.Stop(syscall.SIGINT)
			lines := strings.Split(strings.TrimRight(tl.Stdout(), "\n"), "\n")
			if !slices.Contains(lines, tc.header) {
				t.Errorf("no header %q in:\n%s", tc.header, tl.Stdout())
			}
			if !slices.Contains(lines, tc.line) {
				t.Errorf("no line %q in:\n%s", tc.line, tl.Stdout())
			}
		})
	}
}

// TestBadInput checks that bad input gives one line and the right status.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--bogus"}, 2, "unknown flag"},
		{[]string{"-P", "80,x"}, 2, `port "x"`},
		{[]string{"-P", "0"}, 2, "1-65535"},
		{[]string{"-P", "70000"}, 2, "1-65535"},
		{[]string{"-p", "999999999"}, 2, "no such process"},
		{[]string{"-4", "-6"}, 2, "exclude"},
		{[]string{"--backend", "nope"}, 2, "choose one of"},
		{[]string{"extra"}, 2, "unexpected argument"},
	} {
		code, stdout, stderr := kerneltest.Run(t, readyTimeout, kerneltest.Command("tcpconnect", tc.args...))
		if code != tc.code || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", tc.args, code, stdout, stderr, tc.code, tc.msg)
		}
	}
	code, stdout, _ := kerneltest.Run(t, readyTimeout, kerneltest.Command("tcpconnect", "--help"))
	if code != 0 || !strings.Contains(stdout, "examples:") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout)
	}
}

// TestUnsupportedBackend forces a backend the kernel lacks.
func TestUnsupportedBackend(t *testing.T) {
	kerneltest.Root(t)
	for _, be := range backends {
		if len(be.need) == 0 || loader.Have(be.need[0]) == nil {
			continue
		}
		code, _, stderr := kerneltest.Run(t, readyTimeout, kerneltest.Command("tcpconnect", "--backend", be.name))
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, string(be.need[0])) {
			t.Errorf("--backend %s: exit %d, stderr %q; want 1 and one line naming %s", be.name, code, stderr, be.need[0])
		}
	}
}

// TestNotRoot runs the tool as nobody.
func TestNotRoot(t *testing.T) {
	kerneltest.Root(t)
	cmd := kerneltest.Command("tcpconnect")
	cmd.Path = worldExecutableCopy(t)
	cmd.Args[0] = cmd.Path
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	code, _, stderr := kerneltest.Run(t, readyTimeout, cmd)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "root") {
		t.Errorf("as nobody: exit %d, stderr %q; want 1 and one line about root", code, stderr)
	}
}
