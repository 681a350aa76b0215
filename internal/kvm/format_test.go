package kvm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestFormat(t *testing.T, kernel, event string) *Format {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", kernel, event))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, err := ParseFormat(f)
	if err != nil {
		t.Fatalf("%s/%s: %v", kernel, event, err)
	}
	return format
}

// kernels are the kernels whose format files testdata holds.
func kernels(t *testing.T) []string {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "fuzz") {
			ks = append(ks, e.Name())
		}
	}
	return ks
}

func TestParseFormatFields(t *testing.T) {
	f := readTestFormat(t, "6.18", "kvm_exit")
	if f.Name != "kvm_exit" || f.ID != 103 {
		t.Errorf("name %q id %d", f.Name, f.ID)
	}
	want := []Field{
		{"common_type", "unsigned short", 0, 2, false},
		{"common_flags", "unsigned char", 2, 1, false},
		{"common_preempt_count", "unsigned char", 3, 1, false},
		{"common_pid", "int", 4, 4, true},
		{"exit_reason", "unsigned int", 8, 4, false},
		{"guest_rip", "unsigned long", 16, 8, false},
		{"isa", "u32", 24, 4, false},
		{"info1", "u64", 32, 8, false},
		{"info2", "u64", 40, 8, false},
		{"intr_info", "u32", 48, 4, false},
		{"error_code", "u32", 52, 4, false},
		{"vcpu_id", "unsigned int", 56, 4, false},
		{"requests", "u64", 64, 8, false},
	}
	if len(f.Fields) != len(want) {
		t.Fatalf("%d fields, want %d: %+v", len(f.Fields), len(want), f.Fields)
	}
	for i, w := range want {
		if f.Fields[i] != w {
			t.Errorf("field %d: %+v, want %+v", i, f.Fields[i], w)
		}
	}
	if !strings.HasPrefix(f.PrintFmt, `"vcpu %u reason %s%s%s rip`) {
		t.Errorf("print fmt %q", f.PrintFmt)
	}
}

func TestParseField(t *testing.T) {
	for _, c := range []struct {
		line string
		want Field
		bad  bool
	}{
		{line: "field:unsigned int vcpu_id;\toffset:56;\tsize:4;\tsigned:0;", want: Field{"vcpu_id", "unsigned int", 56, 4, false}},
		{line: "field:char comm[16];\toffset:8;\tsize:16;\tsigned:0;", want: Field{"comm", "char[16]", 8, 16, false}},
		{line: "field:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;", want: Field{"name", "__data_loc char[]", 8, 4, false}},
		{line: "field:int errno;\toffset:12;\tsize:4;\tsigned:1;", want: Field{"errno", "int", 12, 4, true}},
		{line: "field:u64 x;\toffset:8;", bad: true},
		{line: "field:u64 x;\toffset:a;\tsize:8;", bad: true},
		{line: "field:;\toffset:8;\tsize:8;", bad: true},
		{line: "field:u64 9x;\toffset:8;\tsize:8;", bad: true},
		{line: "field:u64 x;\toffset:8;\tsize:0;", bad: true},
	} {
		got, err := parseField(c.line)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error, got %+v", c.line, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
}

func TestParseFormatRejects(t *testing.T) {
	for _, s := range []string{"", "hello", "name: x\nID: 3\n", "name: x\nID: abc\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n"} {
		if f, err := ParseFormat(strings.NewReader(s)); err == nil {
			t.Errorf("%q: no error, got %+v", s, f)
		}
	}
}

// The reason tables of every kernel in testdata: VMX selected by isa == 1
// and masked with 0xffff, SVM in the else branch with its vmgexit codes.
func TestExitReasonsFromFormats(t *testing.T) {
	type probe struct {
		isa, reason uint32
		name        string
	}
	common := []probe{
		{ISAVMX, 12, "HLT"},
		{ISAVMX, 30, "IO_INSTRUCTION"},
		{ISAVMX, 18, "VMCALL"},
		{ISAVMX, 48, "EPT_VIOLATION"},
		{ISAVMX, 0x10000 | 12, "HLT 0x10000"},                     // other high bits show in hex, as the kernel prints them
		{ISAVMX, 0x80000000 | 33, "INVALID_STATE FAILED_VMENTRY"}, // failed VM entry
		{ISAVMX, 0x80000000 | 0x10000 | 33, "INVALID_STATE FAILED_VMENTRY 0x10000"},
		{ISAVMX, 999, "0x3e7"},
		{ISASVM, 0x78, "hlt"},
		{ISASVM, 0x7b, "io"},
		{ISASVM, 0x400, "npf"},
		{ISASVM, 0x60, "interrupt"},
		{ISASVM, 0x040 + 14, "PF excp"},
		{ISASVM, 0x81, "hypercall"},
		{ISASVM, 0x10078, "0x10078"}, // SVM values are not masked
		{ISASVM, 0xffffffff, "invalid_guest_state"},
		{3, 0x78, "hlt"}, // an isa no condition names takes the else branch
	}
	want := map[string][]probe{
		"6.18": append(common, probe{ISAVMX, 74, "BUS_LOCK"}, probe{ISASVM, 0x403, "vmgexit"},
			probe{ISASVM, 0x80000001, "vmgexit_mmio_read"}, probe{ISASVM, 0x8000fffd, "vmgexit_hypervisor_feature"},
			probe{ISASVM, 0xa6, "idle-halt"}),
		"6.1":  append(common, probe{ISAVMX, 74, "BUS_LOCK"}, probe{ISASVM, 0x403, "vmgexit"}),
		"6.12": append(common, probe{ISAVMX, 75, "NOTIFY"}, probe{ISASVM, 0x80000013, "vmgexit_ap_creation"}),
		"7.x": append(common, probe{ISAVMX, 84, "MSR_READ_IMM"}, probe{ISAVMX, 77, "TDCALL"},
			probe{ISASVM, 0x80000001, "vmgexit_mmio_read"}, probe{ISASVM, 0xa5, "buslock"}), // "ull" suffixes
		"5.10": append(common, probe{ISASVM, 0x403, "0x403"}), // no SEV-ES in its table
	}
	for _, k := range kernels(t) {
		t.Run(k, func(t *testing.T) {
			r, err := ExitReasonsFromFormat(readTestFormat(t, k, "kvm_exit"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Source != "tracefs" || r.ByISA[ISAVMX] == nil || r.Other == nil || len(r.ByISA) != 1 {
				t.Fatalf("tables: %+v", r)
			}
			probes, ok := want[k]
			if !ok {
				probes = common
			}
			for _, p := range probes {
				if got := r.Name(p.isa, p.reason); got != p.name {
					t.Errorf("isa %d reason %#x: %q, want %q", p.isa, p.reason, got, p.name)
				}
			}
		})
	}
}

func TestBuiltinExitReasons(t *testing.T) {
	r := BuiltinExitReasons()
	if r.Source != "built-in" || r.Name(ISAVMX, 12) != "HLT" || r.Name(ISASVM, 0x7b) != "io" {
		t.Errorf("built-in tables: %+v", r)
	}
	if n := len(r.ByISA[ISAVMX].Names); n < 60 {
		t.Errorf("built-in VMX table has %d names", n)
	}
	if n := len(r.Other.Names); n < 100 {
		t.Errorf("built-in SVM table has %d names", n)
	}
}

func TestExitReasonsRejects(t *testing.T) {
	for _, pf := range []string{
		`"reason %d", REC->exit_reason`,
		`"reason %s", __print_symbolic(REC->exit_reason, { 1, 2 })`,
		`"reason %s", __print_symbolic(REC->exit_reason, { REC->x, "a" })`,
		`"reason %s", __print_symbolic(REC->exit_reason, { 1 })`,
		`"reason %s", __print_symbolic(REC->exit_reason, { 1, "a" }`,
	} {
		if r, err := ExitReasonsFromFormat(&Format{Name: "kvm_exit", PrintFmt: pf}); err == nil {
			t.Errorf("%s: no error, got %+v", pf, r)
		}
	}
}

func TestTableLookup(t *testing.T) {
	r := BuiltinExitReasons()
	for _, c := range []struct {
		isa  uint32
		name string
		want uint32
	}{{ISAVMX, "hlt", 12}, {ISAVMX, "VMCALL", 18}, {ISASVM, "HLT", 0x78}, {ISASVM, "io", 0x7b}, {ISASVM, "vmgexit_ap_creation", 0x80000013}} {
		v, ok := r.Table(c.isa).Lookup(c.name)
		if !ok || v != c.want {
			t.Errorf("isa %d %q: %#x, %v; want %#x", c.isa, c.name, v, ok, c.want)
		}
	}
	if _, ok := r.Table(ISAVMX).Lookup("nonsense"); ok {
		t.Error("found nonsense")
	}
}

func TestUserspaceExits(t *testing.T) {
	for _, k := range kernels(t) {
		u, err := UserspaceExitsFromFormat(readTestFormat(t, k, "kvm_userspace_exit"))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, c := range []struct {
			reason uint32
			errno  int32
			want   string
		}{
			{2, 0, "KVM_EXIT_IO"}, {5, 0, "KVM_EXIT_HLT"}, {6, 0, "KVM_EXIT_MMIO"}, {8, 0, "KVM_EXIT_SHUTDOWN"},
			{17, 0, "KVM_EXIT_INTERNAL_ERROR"}, {39, 0, "KVM_EXIT_MEMORY_FAULT"}, {200, 0, "0xc8"},
			{2, -4, "restart (EINTR)"}, {2, -14, "error EFAULT"}, {0, -9999, "error 9999"},
		} {
			if got := u.Name(c.reason, c.errno); got != c.want {
				t.Errorf("%s: reason %d errno %d: %q, want %q", k, c.reason, c.errno, got, c.want)
			}
		}
		if v, ok := u.Lookup("io"); !ok || v != 2 {
			t.Errorf("%s: lookup io: %d %v", k, v, ok)
		}
		if v, ok := u.Lookup("KVM_EXIT_HLT"); !ok || v != 5 {
			t.Errorf("%s: lookup KVM_EXIT_HLT: %d %v", k, v, ok)
		}
	}
	if u := BuiltinUserspaceExits(); u.Name(2, 0) != "KVM_EXIT_IO" || u.Source != "built-in" {
		t.Errorf("built-in: %+v", u)
	}
}

func TestLayoutOf(t *testing.T) {
	want := map[string]map[string]uint32{
		"6.18": {"exit_reason_off": 8, "exit_isa_off": 24, "exit_vcpu_off": 56, "exit_rip_off": 16, "entry_vcpu_off": 8, "entry_rip_off": 16,
			"uexit_reason_off": 8, "uexit_errno_off": 12, "pio_port_off": 12, "hc_nr_off": 8, "hc_a3_off": 40},
		"6.1": {"exit_reason_off": 8, "exit_isa_off": 24, "exit_vcpu_off": 56, "exit_rip_off": 16, "entry_vcpu_off": 8, "entry_rip_off": 16,
			"uexit_reason_off": 8, "uexit_errno_off": 12, "pio_port_off": 12, "hc_nr_off": 8, "hc_a3_off": 40},
	}
	for _, k := range kernels(t) {
		formats := map[string]*Format{}
		for _, ev := range []string{"kvm_exit", "kvm_entry", "kvm_userspace_exit", "kvm_pio", "kvm_hypercall"} {
			formats[ev] = readTestFormat(t, k, ev)
		}
		l, err := LayoutOf(formats)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(l.Constants) != len(fieldSpecs) {
			t.Errorf("%s: %d constants, want %d", k, len(l.Constants), len(fieldSpecs))
		}
		for c, off := range want[k] {
			if l.Constants[c] != off {
				t.Errorf("%s: %s = %v, want %d", k, c, l.Constants[c], off)
			}
		}
		t.Logf("%s: %v", k, l.Constants)
	}
	// A missing optional field reads as NoField, a missing required one
	// or a size change is an error.
	f := readTestFormat(t, "6.18", "kvm_exit")
	f.Fields = slicesDelete(f.Fields, "vcpu_id")
	l, err := LayoutOf(map[string]*Format{"kvm_exit": f})
	if err != nil || l.Constants["exit_vcpu_off"] != uint32(NoField) || l.Has("kvm_exit", "vcpu_id") {
		t.Errorf("without vcpu_id: %v, %v", l, err)
	}
	f.Fields = slicesDelete(f.Fields, "exit_reason")
	if _, err := LayoutOf(map[string]*Format{"kvm_exit": f}); err == nil {
		t.Error("no error without exit_reason")
	}
	f = readTestFormat(t, "6.18", "kvm_exit")
	f.Fields[4].Size = 8
	if _, err := LayoutOf(map[string]*Format{"kvm_exit": f}); err == nil {
		t.Error("no error for an 8-byte exit_reason")
	}
}

func slicesDelete(fs []Field, name string) []Field {
	var out []Field
	for _, f := range fs {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// The running kernel's formats parse, and are logged so that VM test runs
// record them (testdata/<kernel> is made from such logs).
func TestRunningKernelFormats(t *testing.T) {
	dir, err := Tracefs()
	if err != nil {
		t.Skipf("no tracefs: %v", err)
	}
	if _, err := ReadFormat("kvm", "kvm_exit"); errors.Is(err, ErrNoKVMTracepoints) {
		t.Skipf("no kvm tracepoints in %s", dir)
	}
	formats := map[string]*Format{}
	for _, ev := range []string{"kvm_exit", "kvm_entry", "kvm_userspace_exit", "kvm_pio", "kvm_hypercall"} {
		f, err := ReadFormat("kvm", ev)
		if err != nil {
			t.Fatal(err)
		}
		formats[ev] = f
		if os.Getenv("BPFSCOPE_IN_VM") == "1" {
			b, _ := os.ReadFile(filepath.Join(dir, "events", "kvm", ev, "format"))
			t.Logf("format of kvm:%s:\n%s", ev, b)
		}
	}
	if _, err := LayoutOf(formats); err != nil {
		t.Error(err)
	}
	r, err := LoadExitReasons()
	if err != nil || r.Source != "tracefs" {
		t.Errorf("exit reasons: %v (source %s)", err, r.Source)
	}
	if _, err := LoadUserspaceExits(); err != nil {
		t.Error(err)
	}
}

func TestParsePrintFmt(t *testing.T) {
	pf, err := ParsePrintFmt(`"vcpu %u reason %s" "!", REC->vcpu_id, (REC->isa == 1) ? __print_symbolic(REC->exit_reason & 0xffff, { 0, "A" }, { 0x040 + 14, "PF" " excp" }) : "x"`)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Format != "vcpu %u reason %s!" || len(pf.Args) != 2 {
		t.Fatalf("%+v", pf)
	}
	if f, ok := pf.Args[0].(RecField); !ok || f.Name != "vcpu_id" {
		t.Errorf("arg 0: %#v", pf.Args[0])
	}
	c, ok := pf.Args[1].(Cond)
	if !ok {
		t.Fatalf("arg 1: %#v", pf.Args[1])
	}
	call, ok := c.T.(Call)
	if !ok || call.Fn != "__print_symbolic" || len(call.Args) != 3 {
		t.Fatalf("then: %#v", c.T)
	}
	if l := call.Args[2].(List); l.Elems[1].(Str).Val != "PF excp" {
		t.Errorf("adjacent strings: %#v", l)
	}

	for _, c := range []struct {
		expr string
		want int64
	}{
		{"1 + 2 * 3", 7}, {"(1 + 2) * 3", 9}, {"0x040 + 14", 0x4e}, {"-1", -1}, {"~0xffff", ^int64(0xffff)},
		{"1ULL << 63", -1 << 63}, {"010", 8}, {"'A'", 65}, {"(u32)5", 5}, {"1 ? 2 : 3", 2}, {"0 ? 2 : 0 ? 3 : 4", 4},
		{"3 == 3 && 2 != 2", 0}, {"5 % 3 | 8", 10}, {"6 ^ 3", 5}, {"7 >> 1", 3}, {"!0", 1}, {"2 < 3", 1}, {"REC->f + 1", 42},
	} {
		pf, err := ParsePrintFmt(`"%d", ` + c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		v, err := Eval(pf.Args[0], func(name string) (int64, bool) { return 41, name == "f" })
		if err != nil || v != c.want {
			t.Errorf("%s = %d, %v; want %d", c.expr, v, err, c.want)
		}
	}
	for _, bad := range []string{``, `1`, `"a", `, `"a", (1`, `"a", {1,`, `"a" 1`, `"a", "unterminated`, `"a", 1 @ 2`, `"a", 0x`, `"a", f(1)(2)`, `"a", x->`} {
		if pf, err := ParsePrintFmt(bad); err == nil {
			t.Errorf("%q: no error, got %+v", bad, pf)
		}
	}
	for _, bad := range []string{"1 / 0", "1 << 64", "REC->x", "f(1)"} {
		pf, err := ParsePrintFmt(`"%d", ` + bad)
		if err != nil {
			t.Fatalf("%s: %v", bad, err)
		}
		if v, err := Eval(pf.Args[0], nil); err == nil {
			t.Errorf("%s: evaluated to %d", bad, v)
		}
	}
	deep := `"a", ` + strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000)
	if _, err := ParsePrintFmt(deep); err == nil {
		t.Error("no error for 10000 nested parentheses")
	}
}

// Kernels before 5.12 print the whole VMX exit_reason, without the mask or
// the FAILED_VMENTRY flags: kvmexit masks it anyway.
func TestOldVMXFormat(t *testing.T) {
	f := &Format{Name: "kvm_exit", PrintFmt: `"reason %s rip 0x%lx info %llx %llx", (REC->isa == 1) ? __print_symbolic(REC->exit_reason, { 0, "EXCEPTION_NMI" }, { 12, "HLT" }, { 33, "INVALID_STATE" }) : __print_symbolic(REC->exit_reason, { 0x078, "hlt" }, { -1, "invalid_guest_state" }), REC->guest_rip, REC->info1, REC->info2`}
	r, err := ExitReasonsFromFormat(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		isa, reason uint32
		want        string
	}{
		{ISAVMX, 12, "HLT"}, {ISAVMX, 0x80000021, "INVALID_STATE FAILED_VMENTRY"}, {ISASVM, 0x78, "hlt"}, {ISASVM, 0xffffffff, "invalid_guest_state"},
	} {
		if got := r.Name(c.isa, c.reason); got != c.want {
			t.Errorf("isa %d reason %#x: %q, want %q", c.isa, c.reason, got, c.want)
		}
	}
}
