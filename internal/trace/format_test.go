package trace

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	sym := func(addr uint64, user bool) string {
		if user {
			return "main+0x4 [prog]"
		}
		return "schedule+0x10"
	}
	for _, tt := range []struct {
		format string
		ctypes string
		args   []arg
		want   string
	}{
		{"hello, world", "", nil, "hello, world"},
		{"%d", "s32", []arg{{u: 0xffffffff}}, "-1"},
		{"%u", "u32", []arg{{u: 0xffffffff}}, "4294967295"},
		{"%ld %lu", "s64 u64", []arg{{u: ^uint64(0)}, {u: ^uint64(0)}}, "-1 18446744073709551615"},
		{"%lld|%llu|%lli", "s64 u64 s64", []arg{{u: 1 << 63}, {u: 1 << 63}, {u: 7}}, "-9223372036854775808|9223372036854775808|7"},
		{"%hd %hu %hhd %hhu", "s16 u16 s8 u8", []arg{{u: 0xffff}, {u: 0xffff}, {u: 0x80}, {u: 0x80}}, "-1 65535 -128 128"},
		{"%x %X %lx %llx %o", "u32 u32 u64 u64 u32", []arg{{u: 255}, {u: 255}, {u: 1 << 40}, {u: 0xdead}, {u: 8}}, "ff FF 10000000000 dead 10"},
		{"%c%c", "s8 s8", []arg{{u: 'o'}, {u: 'k'}}, "ok"},
		{"%s and %s", "char* char*", []arg{{str: []byte("a")}, {str: []byte("")}}, "a and "},
		{"%p %p", "u64 u64", []arg{{u: 0xffff8880}, {u: 0}}, "0xffff8880 0x0"},
		{"%K / %U", "u64 u64", []arg{{u: 1}, {u: 2}}, "schedule+0x10 / main+0x4 [prog]"},
		{"%5d|%-5d|%05d|%+d", "s32 s32 s32 s32", []arg{{u: 42}, {u: 42}, {u: 42}, {u: 42}}, "   42|42   |00042|+42"},
		{"%8s|%-8s|%.2s", "char* char* char*", []arg{{str: []byte("abc")}, {str: []byte("abc")}, {str: []byte("abc")}}, "     abc|abc     |ab"},
		{"%#x %08lx %10p", "u32 u64 u64", []arg{{u: 255}, {u: 255}, {u: 255}}, "0xff 000000ff       0xff"},
		{"100%% of %d%%", "s32", []arg{{u: 3}}, "100% of 3%"},
		{"%zu", "u64", []arg{{u: 9}}, "9"},
	} {
		f, err := parseFormat(tt.format)
		if err != nil {
			t.Errorf("%q: %v", tt.format, err)
			continue
		}
		var ctypes []string
		for _, c := range f.convs {
			ctypes = append(ctypes, c.ctype())
		}
		if got := strings.Join(ctypes, " "); got != tt.ctypes {
			t.Errorf("%q: C types %q, want %q", tt.format, got, tt.ctypes)
		}
		if got := string(f.render(nil, tt.args, sym)); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.format, got, tt.want)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"%", "has no verb"},
		{"%5", "has no verb"},
		{"%q", `unknown conversion "%q"`},
		{"%ls", `"%ls" takes no length modifier`},
		{"%f", `unknown conversion "%f"`},
		{"%lK", "takes no length modifier"},
	} {
		_, err := parseFormat(tt.format)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want ...%s...", tt.format, err, tt.want)
		}
	}
}

func FuzzFormat(f *testing.F) {
	for _, s := range []string{"%d", "%-5s|%lx", "%%%c", "a%llu b%hhd %p %K %U", "%08.3d", "%"} {
		f.Add(s, uint64(42), "str")
	}
	f.Fuzz(func(t *testing.T, format string, v uint64, s string) {
		fm, err := parseFormat(format)
		if err != nil {
			return
		}
		args := make([]arg, len(fm.convs))
		for i := range args {
			args[i] = arg{u: v, str: []byte(s)}
		}
		out := fm.render(nil, args, func(uint64, bool) string { return "sym" })
		if len(fm.convs) == 0 && string(out) != strings.ReplaceAll(format, "%%", "%") {
			t.Fatalf("%q without conversions printed %q", format, out)
		}
	})
}
