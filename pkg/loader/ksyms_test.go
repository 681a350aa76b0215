package loader

import (
	"errors"
	"strings"
	"testing"
)

const kallsyms = `ffffffff81000000 T _stext
ffffffff81001000 t tcp_v4_connect
ffffffff81002000 t finish_task_switch.isra.0
ffffffff81003000 t finish_task_switch.isra.0.cold
ffffffff81004000 t do_thing.constprop.2
ffffffff81004100 t do_thing.constprop.1
ffffffff81005000 t split_fn.part.0
ffffffff81006000 d some_data
ffffffff81007000 t stacked.constprop.0.isra.0
ffffffff81008000 T in_module	[kvm]
short line
`

func TestResolveIn(t *testing.T) {
	syms, err := parseKallsyms(strings.NewReader(kallsyms))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		fn, want string
		err      error
	}{
		{"tcp_v4_connect", "tcp_v4_connect", nil},
		{"finish_task_switch", "finish_task_switch.isra.0", nil},
		{"do_thing", "do_thing.constprop.1", nil},
		{"split_fn", "split_fn.part.0", nil},
		{"stacked", "stacked.constprop.0.isra.0", nil},
		{"in_module", "in_module", nil},
		{"some_data", "", ErrSymbolNotFound},
		{"tcp_v4", "", ErrSymbolNotFound},
		{"finish_task_switch.isra", "", ErrSymbolNotFound},
	} {
		got, err := resolveIn(syms, tt.fn)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("resolve %q = %q, %v; want %q, %v", tt.fn, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseKallsyms(f *testing.F) {
	f.Add(kallsyms, "finish_task_switch")
	f.Fuzz(func(t *testing.T, listing, fn string) {
		syms, err := parseKallsyms(strings.NewReader(listing))
		if err != nil {
			return
		}
		got, err := resolveIn(syms, fn)
		if err == nil && !strings.HasPrefix(got, fn) {
			t.Fatalf("resolve %q gave %q", fn, got)
		}
	})
}

func TestVerifierTail(t *testing.T) {
	log := []string{"0: (b7) r1 = 0", "R0 invalid mem access 'map_value_or_null'", "a", "b", "c", "d", "e", "f", "g", "h", "i", "", "processed 7 insns"}
	got := verifierTail(log)
	if len(got) != verifierLogLines || got[0] != log[1] || got[len(got)-1] != "i" {
		t.Errorf("verifierTail = %q", got)
	}
	short := verifierTail([]string{"x", "R1 invalid", "processed 1 insns"})
	if len(short) != 2 || short[1] != "R1 invalid" {
		t.Errorf("verifierTail(short) = %q", short)
	}
}
