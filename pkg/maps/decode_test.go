package maps_test

import (
	"testing"

	"github.com/bpfscope/bpfscope/pkg/maps"
)

func TestCString(t *testing.T) {
	for _, tt := range []struct {
		in   []int8
		want string
	}{
		{[]int8{'b', 'a', 's', 'h', 0, 'x'}, "bash"},
		{[]int8{'a', 'b'}, "ab"}, // no NUL: the whole array
		{[]int8{0, 'a'}, ""},
		{nil, ""},
		{[]int8{-61, -87, 0}, "\u00e9"}, // UTF-8 bytes survive
	} {
		if got := maps.CString(tt.in); got != tt.want {
			t.Errorf("CString(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
