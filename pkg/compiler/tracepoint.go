package compiler

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// tracefsDirs are where tracefs is usually mounted.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tpField is one field of a tracepoint's format file.
type tpField struct {
	name    string
	decl    string // the C declaration as written
	off     int
	size    int
	signed  bool
	dataLoc bool // __data_loc: a u32 whose low 16 bits are the offset of the data in the record
	typ     *ctype
}

// tracepointFormat is a parsed format file.
type tracepointFormat struct {
	category, name string
	fields         []tpField
}

func (f *tracepointFormat) field(name string) (tpField, bool) {
	for _, fl := range f.fields {
		if fl.name == name {
			return fl, true
		}
	}
	return tpField{}, false
}

func (f *tracepointFormat) names() []string {
	var ns []string
	for _, fl := range f.fields {
		if !strings.HasPrefix(fl.name, "common_") {
			ns = append(ns, fl.name)
		}
	}
	return ns
}

func findTracefs(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	for _, d := range tracefsDirs {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("tracefs not found at /sys/kernel/tracing or /sys/kernel/debug/tracing (mount -t tracefs nodev /sys/kernel/tracing)")
}

// readFormat reads and parses the format file of CAT:NAME. Unknown
// categories and events are reported with the names that exist.
func readFormat(tracefs, text string, p *probespec.Probe, ts *types) (*tracepointFormat, error) {
	cat, name := p.Library, p.Function
	dir := filepath.Join(tracefs, "events")
	if _, err := os.Stat(filepath.Join(dir, cat)); err != nil {
		return nil, probespec.Errorf(text, p.LibraryPos, "unknown tracepoint category %q%s", cat, suggest(cat, listDir(dir)))
	}
	path := filepath.Join(dir, cat, name, "format")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, probespec.Errorf(text, p.FunctionPos, "unknown tracepoint %s:%s%s", cat, name, suggest(name, listDir(filepath.Join(dir, cat))))
	}
	if err != nil {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", cat, name, err)
	}
	defer f.Close()
	tf := &tracepointFormat{category: cat, name: name}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "field:") {
			continue
		}
		fl, err := parseFieldLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		fl.typ = fieldType(fl, cat == "syscalls", ts)
		tf.fields = append(tf.fields, fl)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return tf, nil
}

func listDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// parseFieldLine parses "field:unsigned int fd;	offset:16;	size:8;	signed:0;".
func parseFieldLine(line string) (tpField, error) {
	var fl tpField
	for _, part := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "field":
			fl.decl = strings.TrimSpace(v)
		case "offset":
			fl.off, err = strconv.Atoi(v)
		case "size":
			fl.size, err = strconv.Atoi(v)
		case "signed":
			fl.signed = v == "1"
		}
		if err != nil {
			return fl, fmt.Errorf("field line %q: %w", line, err)
		}
	}
	decl := fl.decl
	if rest, ok := strings.CutPrefix(decl, "__data_loc "); ok {
		fl.dataLoc = true
		decl = rest
	}
	// The name is the last identifier, possibly followed by [N].
	base := decl
	if i := strings.LastIndexByte(base, '['); i >= 0 && strings.HasSuffix(base, "]") {
		base = strings.TrimSpace(base[:i])
	}
	j := len(base)
	for j > 0 && (isIdent(base[j-1])) {
		j--
	}
	fl.name = base[j:]
	if fl.name == "" {
		return fl, fmt.Errorf("field line %q: no name", line)
	}
	return fl, nil
}

func isIdent(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// fieldType works out a field's type from its declaration, trusting the
// format's size and signedness where the declared type disagrees (the
// syscall tracepoints declare "unsigned int fd" in 8 bytes).
func fieldType(fl tpField, userPointers bool, ts *types) *ctype {
	fallback := intType(fmt.Sprintf("%s%d", map[bool]string{true: "s", false: "u"}[fl.signed], fl.size*8), fl.size, fl.signed)
	if fl.size != 1 && fl.size != 2 && fl.size != 4 && fl.size != 8 {
		fallback = &ctype{kind: kArray, elem: intType("u8", 1, false), n: fl.size, size: fl.size, name: fmt.Sprintf("u8[%d]", fl.size)}
	}
	decl := fl.decl
	if fl.dataLoc {
		// "__data_loc char[] name": the data is a string (or array)
		// elsewhere in the record.
		elem := tChar
		if t, err := probespec.ParseType(strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(decl, "__data_loc "), fl.name), "[]"))); err == nil {
			if c, err := ts.resolve(t, spaceKernel); err == nil && c.kind == kInt {
				elem = c
			}
		}
		return &ctype{kind: kArray, elem: elem, size: 0, name: elem.name + "[]", space: spaceKernel}
	}
	typeText := strings.TrimSpace(strings.TrimSuffix(decl, fl.name))
	arrayLen := 0
	if i := strings.LastIndexByte(decl, '['); i >= 0 && strings.HasSuffix(decl, "]") {
		n, err := strconv.Atoi(decl[i+1 : len(decl)-1])
		if err != nil {
			return fallback
		}
		arrayLen = n
		typeText = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(decl[:i]), fl.name))
	}
	pt, err := probespec.ParseType(typeText)
	if err != nil {
		return fallback
	}
	sp := spaceAny
	if userPointers {
		sp = spaceUser
	}
	t, err := ts.resolve(pt, sp)
	if err != nil {
		return fallback
	}
	if arrayLen > 0 {
		if t.kind != kInt && t.kind != kPtr || t.size*arrayLen != fl.size {
			return fallback
		}
		return &ctype{kind: kArray, elem: t, n: arrayLen, size: fl.size, name: fmt.Sprintf("%s[%d]", t.name, arrayLen), space: spaceKernel}
	}
	switch {
	case t.kind == kPtr && fl.size == 8:
		return t
	case t.kind == kInt && t.size == fl.size:
		if t.signed != fl.signed && t.size > 1 {
			return fallback
		}
		return t
	case t.kind == kInt && t.size < fl.size:
		return t // little-endian: the low bytes hold the value
	}
	return fallback
}

// suggest returns ": did you mean A, B?" with the names closest to name, or
// the list of names when there are few, or "".
func suggest(name string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	if len(names) <= 12 {
		return " (there are: " + strings.Join(names, ", ") + ")"
	}
	type scored struct {
		name string
		d    int
	}
	var best []scored
	for _, n := range names {
		d := editDistance(name, n)
		if strings.HasPrefix(n, name) || strings.Contains(n, name) && len(name) >= 3 {
			d = min(d, 2)
		}
		if d > max(2, len(name)/3) {
			continue
		}
		best = append(best, scored{n, d})
	}
	if len(best) == 0 {
		return ""
	}
	for i := 1; i < len(best); i++ {
		for j := i; j > 0 && (best[j].d < best[j-1].d || best[j].d == best[j-1].d && best[j].name < best[j-1].name); j-- {
			best[j], best[j-1] = best[j-1], best[j]
		}
	}
	if len(best) > 8 {
		best = best[:8]
	}
	out := make([]string, len(best))
	for i, b := range best {
		out[i] = b.name
	}
	return " (did you mean " + strings.Join(out, ", ") + "?)"
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
