package symbols

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		sym                    Symbol
		showModule, showOffset bool
		want                   string
	}{
		{Symbol{Name: "schedule", Module: "kernel", Offset: 0x10}, true, true, "schedule+0x10 [kernel]"},
		{Symbol{Name: "schedule", Module: "kernel", Offset: 0x10}, false, true, "schedule+0x10"},
		{Symbol{Name: "schedule", Module: "kernel", Offset: 0x10}, false, false, "schedule"},
		{Symbol{Name: "schedule", Module: "kernel"}, true, true, "schedule+0x0 [kernel]"},
		{Symbol{Name: "vmx_vcpu_run", Module: "kvm_intel", Offset: 0x1a}, true, true, "vmx_vcpu_run+0x1a [kvm_intel]"},
		{Symbol{Name: "clock_nanosleep", Module: "/usr/lib/x86_64-linux-gnu/libc.so.6", Offset: 0x5}, true, true, "clock_nanosleep+0x5 [libc.so.6]"},
		{Symbol{Name: "clock_nanosleep", Module: "/usr/lib/x86_64-linux-gnu/libc.so.6", Offset: 0x5}, true, false, "clock_nanosleep [libc.so.6]"},
		// bcc prints no offset without a name, and the module if known.
		{Symbol{Module: "/usr/bin/sleep", Offset: 0x2a40}, true, true, "[unknown] [sleep]"},
		{Symbol{Module: "/usr/bin/sleep (deleted)", Offset: 0x2a40}, true, true, "[unknown] [sleep (deleted)]"},
		{Symbol{Name: "__vdso_clock_gettime", Module: "[vdso]", Offset: 0x22}, true, true, "__vdso_clock_gettime+0x22 [[vdso]]"},
		{Symbol{Offset: 0x7f0000001000}, true, true, "[unknown]"},
		{Symbol{}, true, true, "[unknown]"},
	}
	for _, tt := range tests {
		if got := Format(tt.sym, tt.showModule, tt.showOffset); got != tt.want {
			t.Errorf("Format(%+v, %v, %v) = %q, want %q", tt.sym, tt.showModule, tt.showOffset, got, tt.want)
		}
	}
}
