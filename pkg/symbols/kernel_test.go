package symbols

import (
	"bufio"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

const kallsymsSample = `0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff81000000 T srso_alias_untrain_ret
ffffffff81000000 T _text
ffffffff81000000 T __pi__text
ffffffff81000100 t __pfx_helper
ffffffff81000110 t helper
ffffffff81000200 T __x64_sys_read
ffffffff81000200 W sys_read_weak_alias
ffffffff81000300 T last_func
ffffffff81000340 T _etext
ffffffff82000000 D __start_rodata
ffffffff83000000 T _sinittext
ffffffff83000000 T start_kernel
ffffffff83000400 T _einittext
ffffffffc0a3c000 t vmx_vcpu_run	[kvm_intel]
ffffffffc0a3c200 d vmx_data	[kvm_intel]
ffffffffc0b00000 t bpf_prog_6deef7357e7b4530_sd_fw_ingress	[bpf]
`

func TestParseKallsyms(t *testing.T) {
	tab, err := ParseKallsyms(strings.NewReader(kallsymsSample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr uint64
		want string // "" for not found
	}{
		{0xffffffff80ffffff, ""},
		{0xffffffff81000000, "srso_alias_untrain_ret+0x0 [kernel]"},
		{0xffffffff810000ff, "srso_alias_untrain_ret+0xff [kernel]"},
		{0xffffffff81000105, "__pfx_helper+0x5 [kernel]"},
		{0xffffffff81000110, "helper+0x0 [kernel]"},
		{0xffffffff81000200, "__x64_sys_read+0x0 [kernel]"},
		{0xffffffff8100033f, "last_func+0x3f [kernel]"},
		{0xffffffff81000340, ""}, // _etext: end of text
		{0xffffffff81001000, ""},
		{0xffffffff82000010, ""},
		{0xffffffff83000010, "start_kernel+0x10 [kernel]"},
		{0xffffffff83000400, ""}, // _einittext
		{0xffffffffc0a3c1ff, "vmx_vcpu_run+0x1ff [kvm_intel]"},
		{0xffffffffc0a3c200, ""}, // module data
		{0xffffffffc0b00010, "bpf_prog_6deef7357e7b4530_sd_fw_ingress+0x10 [bpf]"},
		{0xffffffffc0b00000 + maxTail, ""}, // far past the last symbol
		{^uint64(0), ""},
	}
	for _, tt := range tests {
		sym, ok := tab.Resolve(tt.addr)
		got := ""
		if ok {
			got = Format(sym, true, true)
		}
		if got != tt.want {
			t.Errorf("Resolve(%#x) = %q, want %q", tt.addr, got, tt.want)
		}
		if !ok && (sym.Name != "" || sym.Offset != tt.addr) {
			t.Errorf("Resolve(%#x) not found = %+v, want only Offset", tt.addr, sym)
		}
	}
	if tab.Len() != 8 {
		t.Errorf("Len() = %d, want 8", tab.Len())
	}
}

func TestParseKallsymsErrors(t *testing.T) {
	tests := []struct {
		in         string
		restricted bool
	}{
		{"0000000000000000 T _stext\n0000000000000000 T schedule\n0000000000000000 t vmx_vcpu_run\t[kvm_intel]\n", true},
		{"ffffffff81000000 T\n", false},
		{"xyz T schedule\n", false},
		{"ffffffff81000000 TT schedule\n", false},
		{"ffffffff81000000 t f [kvm\n", false},
		{"ffffffff81000000 t f []\n", false},
		{"ffffffff81000000 t f [a] b\n", false},
		{strings.Repeat("f", 70000) + "\n", false},
	}
	for _, tt := range tests {
		_, err := ParseKallsyms(strings.NewReader(tt.in))
		if err == nil {
			t.Errorf("ParseKallsyms(%.40q) succeeded, want an error", tt.in)
			continue
		}
		if errors.Is(err, ErrRestricted) != tt.restricted {
			t.Errorf("ParseKallsyms(%.40q) = %v, want restricted %v", tt.in, err, tt.restricted)
		}
	}
	tab, err := ParseKallsyms(strings.NewReader(""))
	if err != nil || tab.Len() != 0 {
		t.Errorf("ParseKallsyms(\"\") = %v, %v; want an empty table", tab, err)
	}
	if _, ok := tab.Resolve(0xffffffff81000000); ok {
		t.Error("empty table resolved an address")
	}
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add(kallsymsSample, uint64(0xffffffff81000110))
	f.Add("0000000000000000 T schedule\n", uint64(0))
	f.Add("ffffffffffffffff T end\n", uint64(1<<64-1))
	f.Fuzz(func(t *testing.T, in string, addr uint64) {
		tab, err := ParseKallsyms(strings.NewReader(in))
		if err != nil {
			return
		}
		if !slices.IsSorted(tab.addrs) {
			t.Fatal("addresses not sorted")
		}
		sym, ok := tab.Resolve(addr)
		if ok {
			if sym.Name == "" || sym.Module == "" || sym.Offset > addr {
				t.Fatalf("Resolve(%#x) = %+v", addr, sym)
			}
			start := addr - sym.Offset
			if _, found := slices.BinarySearch(tab.addrs, start); !found {
				t.Fatalf("Resolve(%#x) = %+v: no symbol at %#x", addr, sym, start)
			}
		}
	})
}

// kallsymsAddr finds the address /proc/kallsyms lists for a kernel text
// symbol.
func kallsymsAddr(t testing.TB, name string) uint64 {
	t.Helper()
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) == 3 && fs[2] == name && (fs[1] == "T" || fs[1] == "t") {
			a, err := strconv.ParseUint(fs[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
	}
	t.Fatalf("%s not in /proc/kallsyms", name)
	return 0
}

func TestKernel(t *testing.T) {
	kerneltest.Root(t)
	tab, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	if tab2, _ := Kernel(); tab2 != tab {
		t.Error("Kernel() read kallsyms again")
	}
	addr := kallsymsAddr(t, "schedule")
	sym, ok := tab.Resolve(addr + 0x10)
	if !ok {
		t.Fatalf("Resolve(schedule+0x10 = %#x) found nothing", addr+0x10)
	}
	if got := Format(sym, false, true); got != "schedule+0x10" {
		t.Errorf("ksym = %q, want schedule+0x10", got)
	}
	if got := Format(sym, true, true); got != "schedule+0x10 [kernel]" {
		t.Errorf("sym = %q, want \"schedule+0x10 [kernel]\"", got)
	}
	if n := testing.AllocsPerRun(100, func() { tab.Resolve(addr + 0x10) }); n != 0 {
		t.Errorf("Resolve allocates %v times", n)
	}
	t.Logf("%d kernel text symbols", tab.Len())
}

// BenchmarkKernelLoad reads and parses /proc/kallsyms; the baseline is
// reading it alone (the kernel's cost of listing its symbols).
func BenchmarkKernelLoad(b *testing.B) {
	kerneltest.Root(b)
	var read, n time.Duration
	var syms int
	for b.Loop() {
		start := time.Now()
		f, err := os.Open("/proc/kallsyms")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
		read += time.Since(start)
		start = time.Now()
		tab, err := readKallsyms("/proc/kallsyms")
		if err != nil {
			b.Fatal(err)
		}
		n += time.Since(start)
		syms = tab.Len()
	}
	b.ReportMetric(float64(n.Nanoseconds())/float64(b.N)/1e6, "load-ms")
	b.ReportMetric(float64(read.Nanoseconds())/float64(b.N)/1e6, "baseline-read-ms")
	b.ReportMetric(float64(syms), "symbols")
}

// BenchmarkKernelResolve resolves random kernel text addresses; the
// baseline is the binary search alone.
func BenchmarkKernelResolve(b *testing.B) {
	kerneltest.Root(b)
	tab, err := Kernel()
	if err != nil {
		b.Fatal(err)
	}
	lo, hi := tab.addrs[0], kallsymsAddr(b, "_etext")
	r := rand.New(rand.NewPCG(1, 2))
	addrs := make([]uint64, 4096)
	for i := range addrs {
		addrs[i] = lo + r.Uint64N(hi-lo)
	}
	start := time.Now()
	var sink int
	for i := range 1 << 20 {
		j, _ := slices.BinarySearch(tab.addrs, addrs[i%len(addrs)])
		sink += j
	}
	base := time.Since(start)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := tab.Resolve(addrs[i%len(addrs)]); !ok {
			b.Fatalf("%#x not resolved", addrs[i%len(addrs)])
		}
		i++
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(1<<20), "baseline-search-ns")
	_ = sink
}
