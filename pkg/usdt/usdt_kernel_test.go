package usdt_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/rlimit"

	"github.com/bpfscope/bpfscope/bpf/usdttest"
	"github.com/bpfscope/bpfscope/internal/kerneltest"
	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
	"github.com/bpfscope/bpfscope/pkg/usdt"
)

var (
	plain     = loader.Backend{Name: "usdt", Spec: usdttest.LoadUsdt}
	sleepable = loader.Backend{Name: "usdt.s", Spec: usdttest.LoadUsdtSleepable}
)

// noCookies tells a kernel without BPF cookies (before 5.15): there,
// pkg/usdt finds a call site's spec by its address, and probes in PIEs
// and shared libraries need a PID.
func noCookies() bool { return loader.Have(loader.Cookies) != nil }

// load loads the recording USDT object for process pid. ipLookup forces
// the no-cookie path (spec found by address), as on kernels before 5.15.
func load(t *testing.T, b loader.Backend, pid int, ipLookup bool) *loader.Object {
	t.Helper()
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	consts := usdt.Constants()
	consts["targ_tgid"] = uint32(pid)
	if ipLookup {
		consts[usdt.IPLookupVar] = true
	}
	obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{b}}, loader.Options{Constants: consts})
	if err != nil {
		if b.Name == sleepable.Name {
			t.Skipf("kernel refuses sleepable uprobe programs: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close() })
	return obj
}

// hits returns what the object recorded so far and forgets it.
func hits(t *testing.T, obj *loader.Object) []usdttest.Hit {
	t.Helper()
	var n uint32
	if err := obj.Map("nhits").Lookup(uint32(0), &n); err != nil {
		t.Fatal(err)
	}
	var hs []usdttest.Hit
	for i := range min(n, usdttest.MaxHits) {
		var h usdttest.Hit
		if err := obj.Map("hits").Lookup(i, &h); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if err := obj.Map("nhits").Put(uint32(0), uint32(0)); err != nil {
		t.Fatal(err)
	}
	return hs
}

func find(t *testing.T, bin, provider, name string, pid int) []usdt.Probe {
	t.Helper()
	target := ""
	if bin != "" {
		target = filepath.Join("testdata", bin)
	}
	sites, err := usdt.Find(target, pid, provider, name)
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

// argCase is a probe of sdtprobe, the command that fires it and the
// arguments each hit must carry, in order.
type argCase struct {
	probe string
	cmd   string
	sites int
	want  [][]int64
}

func argCases() []argCase {
	var args, index, twice [][]int64
	for i := range int64(5) {
		args = append(args, []int64{i, i * -1000000007, (i + 200) & 0xff, -i - 1, 5, 1000 + 3*i})
	}
	arr := []int64{7, -8, 9, -10}
	for i := range int64(6) {
		index = append(index, []int64{arr[i%4], i % 4})
	}
	for i := range int64(3) {
		twice = append(twice, []int64{i}, []int64{i + 100})
	}
	return []argCase{
		{"args", "args 5", 1, args},
		{"index", "index 6", 1, index},
		{"twice", "twice 3", 2, twice},
		// Hand-written operands: %ah, %al, %ax, %eax, (%rbx,%rdx,8),
		// $-5, 8(%rbx), -8(%rbx,%rdx,8), %dl, %r9w,
		// sdt_table+24(%rip); see fire_regs in sdtprobe.c.
		{"regs", "regs", 1, [][]int64{{0x77, -0x78, 0x7788, 0x55667788, 33, -5, -22, -22, 2, -2, -44}}},
	}
}

// TestArgs fires the probes of sdtprobe built at -O0 (non-PIE, arguments
// in memory) and -O2 (PIE, registers and constants) and checks every
// argument of every hit exactly, with cookies and with the address lookup
// older kernels use.
func TestArgs(t *testing.T) {
	kerneltest.Root(t)
	for _, bin := range []string{"sdtprobe-O0", "sdtprobe-O2"} {
		for _, mode := range []string{"cookie", "ip"} {
			t.Run(bin+"/"+mode, func(t *testing.T) {
				if mode == "cookie" {
					kerneltest.Need(t, loader.Cookies)
				}
				c := startChild(t, bin)
				obj := load(t, plain, c.pid, mode == "ip")
				for i, tc := range argCases() {
					sites := find(t, bin, "sdttest", tc.probe, 0)
					if len(sites) != tc.sites {
						t.Fatalf("%s: %d call sites, want %d", tc.probe, len(sites), tc.sites)
					}
					cookie := uint64(i + 1)
					opts := usdt.AttachOptions{Cookie: cookie}
					if mode == "ip" {
						opts.PID = c.pid
					}
					if err := usdt.Attach(obj, obj.Program("handle"), sites, opts); err != nil {
						t.Fatal(err)
					}
					c.do("%s", tc.cmd)
					got := hits(t, obj)
					checkHits(t, c, tc.probe, sites, got, cookie, tc.want)
				}
			})
		}
	}
}

func checkHits(t *testing.T, c *child, probe string, sites []usdt.Probe, got []usdttest.Hit, cookie uint64, want [][]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, want %d", probe, len(got), len(want))
	}
	maps, err := uprobe.ReadMappings(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	var ips []uint64
	for _, s := range sites {
		tg := s.Target
		tg.PID = c.pid
		ip, err := uprobe.RuntimeAddress(maps, tg, s.Offset)
		if err != nil {
			t.Fatal(err)
		}
		ips = append(ips, ip)
	}
	seen := map[uint64]bool{}
	for i, h := range got {
		args := h.Args[:max(h.ArgCnt, 0)]
		if h.Err != 0 || h.Cookie != cookie || !slices.Equal(args, want[i]) {
			t.Errorf("%s hit %d: args %d, err %d, cookie %d; want %d, cookie %d", probe, i, args, h.Err, h.Cookie, want[i], cookie)
		}
		if !slices.Contains(ips, h.Ip) {
			t.Errorf("%s hit %d: ip %#x, want one of the call sites %#x", probe, i, h.Ip, ips)
		}
		seen[h.Ip] = true
	}
	if len(seen) != len(sites) {
		t.Errorf("%s: hits came from %d call sites, want %d", probe, len(seen), len(sites))
	}
	t.Logf("%s: %d hits from %d call sites, args as expected: %v", probe, len(got), len(seen), want[0])
}

// TestSemaphore checks that the kernel sets a probe's semaphore while it
// is attached and only then, in a static binary and in a shared library.
func TestSemaphore(t *testing.T) {
	kerneltest.Root(t)
	for _, bin := range []string{"sdtprobe-O0", "sdtprobe-O2", "sdtdyn"} {
		t.Run(bin, func(t *testing.T) {
			provider, cmd, answer := "sdttest", "sema", "sema %d fired %d"
			if bin == "sdtdyn" {
				needDynamicLinker(t)
				provider, cmd, answer = "sdtlib", "lib", "lib %d fired %d"
			}
			c := startChild(t, bin)
			// Without -p: found in the binary or, for sdtdyn, in the
			// library it needs (RUNPATH $ORIGIN).
			sites := find(t, bin, provider, "sema", 0)
			if len(sites) != 1 || sites[0].SemaphoreOffset == 0 {
				t.Fatalf("sites %+v: want one, with a semaphore", sites)
			}
			if v := c.semaphore(sites[0]); v != 0 {
				t.Fatalf("semaphore %d before attach, want 0", v)
			}
			expectAnswer(t, c.do("%s 3", cmd), fmt.Sprintf(answer, 3, 0))

			obj := load(t, plain, c.pid, false)
			var opts usdt.AttachOptions
			if noCookies() {
				opts.PID = c.pid
			}
			if err := usdt.Attach(obj, obj.Program("handle"), sites, opts); err != nil {
				t.Fatal(err)
			}
			held, err := kerneltest.HeldBy(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if v := c.semaphore(sites[0]); v != 1 {
				t.Errorf("semaphore %d while attached, want 1", v)
			}
			expectAnswer(t, c.do("getsema"), "getsema 1")
			expectAnswer(t, c.do("%s 4", cmd), fmt.Sprintf(answer, 4, 4))
			var want [][]int64
			for i := range int64(4) {
				want = append(want, []int64{i, 3 * i})
			}
			checkHits(t, c, "sema", sites, hits(t, obj), 0, want)

			if err := obj.Close(); err != nil {
				t.Fatal(err)
			}
			kerneltest.AssertReleased(t, held)
			if v := c.semaphore(sites[0]); v != 0 {
				t.Errorf("semaphore %d after detach, want 0", v)
			}
			expectAnswer(t, c.do("%s 2", cmd), fmt.Sprintf(answer, 2, 0))
			t.Logf("semaphore: 0 before, 1 attached, 0 after; fired 0/3, 4/4, 0/2")
		})
	}
}

// TestSharedLibraryPID finds a probe of a shared library through the
// process's mappings (-p) and attaches with the PID filter.
func TestSharedLibraryPID(t *testing.T) {
	kerneltest.Root(t)
	needDynamicLinker(t)
	c := startChild(t, "sdtdyn")
	other := startChild(t, "sdtdyn")
	sites := find(t, "", "sdtlib", "sema", c.pid)
	if len(sites) != 1 || !strings.HasSuffix(sites[0].Target.Path, "/libsdtlib.so") {
		t.Fatalf("sites %+v: want libsdtlib.so's", sites)
	}
	own := find(t, "", "", "main", c.pid)
	if len(own) != 1 || own[0].Provider != "sdtdyn" {
		t.Fatalf("sdtdyn:main sites %+v", own)
	}
	obj := load(t, plain, c.pid, false)
	if err := usdt.Attach(obj, obj.Program("handle"), sites, usdt.AttachOptions{PID: c.pid, Cookie: 7}); err != nil {
		t.Fatal(err)
	}
	if err := usdt.Attach(obj, obj.Program("handle"), own, usdt.AttachOptions{PID: c.pid, Cookie: 8}); err != nil {
		t.Fatal(err)
	}
	// The semaphore is set in the traced process only.
	if v := c.semaphore(sites[0]); v != 1 {
		t.Errorf("semaphore %d in the traced process, want 1", v)
	}
	if v := other.semaphore(sites[0]); v != 0 {
		t.Errorf("semaphore %d in another process, want 0", v)
	}
	expectAnswer(t, other.do("lib 2"), "lib 2 fired 0")
	expectAnswer(t, c.do("lib 2"), "lib 2 fired 2")
	checkHits(t, c, "sdtlib:sema", sites, hits(t, obj), 7, [][]int64{{0, 0}, {1, 3}})
	expectAnswer(t, c.do("main 42"), "main 42")
	checkHits(t, c, "sdtdyn:main", own, hits(t, obj), 8, [][]int64{{42}})
}

// TestString reads a string argument that lies on a page the process has
// never touched: a sleepable program faults it in and reads it on the
// first call; a plain one cannot.
func TestString(t *testing.T) {
	kerneltest.Root(t)
	const want = "hello from a fresh page"
	for _, b := range []loader.Backend{sleepable, plain} {
		t.Run(b.Name, func(t *testing.T) {
			c := startChild(t, "sdtprobe-O2")
			obj := load(t, b, c.pid, false)
			sites := find(t, "sdtprobe-O2", "sdttest", "str", 0)
			if err := usdt.Attach(obj, obj.Program("handle"), sites, usdt.AttachOptions{PID: c.pid, Cookie: usdttest.CookieStr}); err != nil {
				t.Fatal(err)
			}
			expectAnswer(t, c.do("str"), "str 0")
			hs := hits(t, obj)
			if len(hs) != 1 {
				t.Fatalf("%d hits, want 1", len(hs))
			}
			h := hs[0]
			got := cstr(h.Str[:])
			if h.Args[1] != int64(len(want)) {
				t.Errorf("length argument %d, want %d", h.Args[1], len(want))
			}
			switch b.Name {
			case sleepable.Name:
				if got != want || h.StrRet != int64(len(want)+1) {
					t.Errorf("sleepable read %q (%d), want %q", got, h.StrRet, want)
				}
			default:
				// The documented limitation: -EFAULT on a page not
				// yet faulted in.
				if h.StrRet != -14 && got != want {
					t.Errorf("plain read %q (%d), want %q or -EFAULT", got, h.StrRet, want)
				}
			}
			t.Logf("%s: first-call string read returned %d %q", b.Name, h.StrRet, got)
		})
	}
}

func cstr(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

// needDynamicLinker skips tests of dynamically linked programs where there
// is no dynamic linker (the VM test's initramfs).
func needDynamicLinker(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/lib64/ld-linux-x86-64.so.2"); errors.Is(err, os.ErrNotExist) {
		t.Skip("no dynamic linker here (/lib64/ld-linux-x86-64.so.2): dynamically linked test programs cannot run")
	}
}
