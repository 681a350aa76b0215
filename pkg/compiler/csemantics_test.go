package compiler

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// foldConst evaluates a constant expression as the checker does, converted
// to u64; no kernel is needed.
func foldConst(t *testing.T, expr string) (uint64, error) {
	t.Helper()
	text := "t:x:y():u64:" + expr
	s, err := probespec.ParseSpec(text)
	if err != nil {
		return 0, err
	}
	c := &compiler{opts: Options{StringSize: DefaultStringSize}, types: &types{btf: kernelBTF.get}}
	k := &checker{c: c, text: text, h: &hook{kind: hookTracepoint, tp: &tracepointFormat{}}}
	v, _, _, err := k.value(s.Exprs[0], &s.Types[0])
	if err != nil {
		return 0, err
	}
	if v.op != opConst {
		t.Fatalf("%s: not folded to a constant", expr)
	}
	return v.val, nil
}

// TestCSemantics compares the compiler's integer semantics (promotions,
// usual arithmetic conversions, widths, signedness, division and shifts)
// with gcc's on 2463 random constant expressions without undefined
// behaviour (testdata/csemantics.txt, made by testdata/csemantics/main.go).
// TestEvaluate checks the generated code against the same folding.
func TestCSemantics(t *testing.T) {
	f, err := os.Open("testdata/csemantics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, refused := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		val, expr, ok := strings.Cut(line, "\t")
		want, err := strconv.ParseUint(val, 10, 64)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		got, err := foldConst(t, expr)
		if err != nil {
			// A constant shift out of range or division by zero is
			// refused even where C's && or || would skip it.
			if msg := err.Error(); strings.Contains(msg, "out of range 0-63") || strings.Contains(msg, "division by zero") {
				refused++
				continue
			}
			t.Errorf("%s: %v (gcc: %d)", expr, err, want)
			continue
		}
		if got != want {
			t.Errorf("%s = %d (%#x), gcc says %d (%#x)", expr, got, got, want, want)
		}
		n++
	}
	if n < 2000 {
		t.Fatalf("only %d expressions checked", n)
	}
	t.Logf("%d expressions agree with gcc, %d refused (constant UB behind && or ||)", n, refused)
}
