package kvm

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Values of kvm_exit's isa field.
const (
	ISAVMX = 1 // Intel VMX: KVM_ISA_VMX
	ISASVM = 2 // AMD SVM: KVM_ISA_SVM
)

// ISAName names an isa value.
func ISAName(isa uint32) string {
	switch isa {
	case ISAVMX:
		return "vmx"
	case ISASVM:
		return "svm"
	}
	return fmt.Sprintf("isa%d", isa)
}

// vmxFailedVMEntry is bit 31 of a VMX exit reason: the VM entry failed.
const vmxFailedVMEntry = 0x80000000

// Flag is one bit of a __print_flags table.
type Flag struct {
	Bits uint32
	Name string
}

// Table names the values of one field, as a __print_symbolic table does.
type Table struct {
	// Mask is applied to a value before it is looked up (VMX: 0xffff, the
	// basic exit reason).
	Mask  uint32
	Names map[uint32]string
	// FlagMask selects the bits named by Flags (VMX: 0xffff0000, where bit
	// 31 is FAILED_VMENTRY).
	FlagMask uint32
	Flags    []Flag
}

// Name names v as the kernel's trace output does: the symbol of v&Mask
// ("0x..." if the table has none), then the names of its flag bits.
func (t *Table) Name(v uint32) string {
	base := v & t.Mask
	name, ok := t.Names[base]
	if !ok {
		name = fmt.Sprintf("0x%x", base)
	}
	rest := v & t.FlagMask
	if rest == 0 {
		return name
	}
	parts := []string{name}
	for _, f := range t.Flags {
		if f.Bits != 0 && rest&f.Bits == f.Bits {
			parts = append(parts, f.Name)
			rest &^= f.Bits
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", rest))
	}
	return strings.Join(parts, " ")
}

// Lookup returns the value named name (case-insensitive), for filters.
func (t *Table) Lookup(name string) (uint32, bool) {
	for v, n := range t.Names {
		if strings.EqualFold(n, name) {
			return v, true
		}
	}
	return 0, false
}

// SortedNames returns the table's names in value order.
func (t *Table) SortedNames() []string {
	vals := make([]uint32, 0, len(t.Names))
	for v := range t.Names {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = t.Names[v]
	}
	return names
}

// ExitReasons names kvm_exit's exit_reason, per isa.
type ExitReasons struct {
	// ByISA holds the tables selected by "REC->isa == N".
	ByISA map[uint32]*Table
	// Other is the table for the isa values no condition names (the
	// "else" branch: SVM in the kernel's kvm_exit).
	Other *Table
	// Source is "tracefs" when the tables come from the running kernel's
	// format file, "built-in" otherwise.
	Source string
}

// Table returns the table for isa, nil if there is none.
func (r *ExitReasons) Table(isa uint32) *Table {
	if t, ok := r.ByISA[isa]; ok {
		return t
	}
	return r.Other
}

// Name names exit reason reason of isa.
func (r *ExitReasons) Name(isa, reason uint32) string {
	t := r.Table(isa)
	if t == nil {
		return fmt.Sprintf("0x%x", reason)
	}
	return t.Name(reason)
}

// ExitReasonsFromFormat reads the reason tables from kvm_exit's format:
// the __print_symbolic and __print_flags calls on REC->exit_reason, each
// under the "REC->isa == N" conditions that select it.
func ExitReasonsFromFormat(f *Format) (*ExitReasons, error) {
	pf, err := ParsePrintFmt(f.PrintFmt)
	if err != nil {
		return nil, err
	}
	r := &ExitReasons{ByISA: map[uint32]*Table{}, Source: "tracefs"}
	var walkErr error
	for _, arg := range pf.Args {
		walkTables(arg, "exit_reason", "isa", isaCond{}, func(c isaCond, t *Table, flags bool) {
			if walkErr != nil {
				return
			}
			dst := r.Other
			if c.eq != nil {
				dst = r.ByISA[uint32(*c.eq)]
			}
			if flags {
				if dst == nil {
					return // flags without a table: ignore
				}
				dst.FlagMask, dst.Flags = t.FlagMask, t.Flags
				return
			}
			if dst != nil {
				return // the first table under a condition wins
			}
			if c.eq != nil {
				r.ByISA[uint32(*c.eq)] = t
			} else {
				r.Other = t
			}
		}, &walkErr)
	}
	if walkErr != nil {
		return nil, walkErr
	}
	if len(r.ByISA) == 0 && r.Other == nil {
		return nil, errors.New("kvm_exit print fmt has no __print_symbolic table for exit_reason")
	}
	// VMX: the basic exit reason is bits 15:0; bit 31 marks a failed VM
	// entry. Kernels before 5.12 print the whole value: mask it here.
	if t := r.ByISA[ISAVMX]; t != nil {
		t.Mask = 0xffff
		if t.FlagMask == 0 {
			t.FlagMask = 0xffff0000
		}
		if len(t.Flags) == 0 {
			t.Flags = []Flag{{vmxFailedVMEntry, "FAILED_VMENTRY"}}
		}
	}
	return r, nil
}

// isaCond is what the enclosing conditions say about the selector field:
// equal to eq, or different from each of ne.
type isaCond struct {
	eq *int64
	ne []int64
}

// walkTables calls found for each __print_symbolic (flags false) or
// __print_flags (flags true) whose first argument reads REC->field, with
// the conditions on REC->sel that select it.
func walkTables(e Expr, field, sel string, c isaCond, found func(isaCond, *Table, bool), errp *error) {
	switch e := e.(type) {
	case Cond:
		if n, ok := selEquals(e.C, sel); ok {
			eq := n
			walkTables(e.T, field, sel, isaCond{eq: &eq}, found, errp)
			fc := isaCond{eq: c.eq, ne: append(slices.Clone(c.ne), n)}
			if c.eq != nil && *c.eq == n {
				return // unreachable branch
			}
			walkTables(e.F, field, sel, fc, found, errp)
			return
		}
		walkTables(e.C, field, sel, c, found, errp)
		walkTables(e.T, field, sel, c, found, errp)
		walkTables(e.F, field, sel, c, found, errp)
	case Call:
		if (e.Fn == "__print_symbolic" || e.Fn == "__print_flags") && len(e.Args) > 0 {
			mask, ok := fieldMask(e.Args[0], field)
			if ok {
				t, err := tableOf(e, mask)
				if err != nil {
					*errp = err
					return
				}
				found(c, t, e.Fn == "__print_flags")
				return
			}
		}
		for _, a := range e.Args {
			walkTables(a, field, sel, c, found, errp)
		}
	case Binary:
		walkTables(e.X, field, sel, c, found, errp)
		walkTables(e.Y, field, sel, c, found, errp)
	case Unary:
		walkTables(e.X, field, sel, c, found, errp)
	case Cast:
		walkTables(e.X, field, sel, c, found, errp)
	}
}

// selEquals matches "REC->sel == N" and "N == REC->sel".
func selEquals(e Expr, sel string) (int64, bool) {
	b, ok := e.(Binary)
	if !ok || b.Op != "==" {
		return 0, false
	}
	for _, pair := range [][2]Expr{{b.X, b.Y}, {b.Y, b.X}} {
		if f, ok := stripCast(pair[0]).(RecField); ok && f.Name == sel {
			if n, err := Eval(pair[1], nil); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

func stripCast(e Expr) Expr {
	for {
		c, ok := e.(Cast)
		if !ok {
			return e
		}
		e = c.X
	}
}

// fieldMask matches REC->field and REC->field & MASK (either order); it
// returns the mask (all ones for the bare field).
func fieldMask(e Expr, field string) (uint32, bool) {
	e = stripCast(e)
	if f, ok := e.(RecField); ok && f.Name == field {
		return 0xffffffff, true
	}
	b, ok := e.(Binary)
	if !ok || b.Op != "&" {
		return 0, false
	}
	for _, pair := range [][2]Expr{{b.X, b.Y}, {b.Y, b.X}} {
		if f, ok := stripCast(pair[0]).(RecField); ok && f.Name == field {
			if m, err := Eval(pair[1], nil); err == nil {
				return uint32(m), true
			}
		}
	}
	return 0, false
}

// tableOf reads the { value, "name" } pairs of a __print_symbolic or
// __print_flags call.
func tableOf(call Call, mask uint32) (*Table, error) {
	pairs := call.Args[1:]
	if call.Fn == "__print_flags" {
		if len(call.Args) < 2 {
			return nil, fmt.Errorf("%s: no delimiter", call.Fn)
		}
		pairs = call.Args[2:]
	}
	t := &Table{Mask: mask, Names: map[uint32]string{}}
	if call.Fn == "__print_flags" {
		t.Mask, t.FlagMask = 0, mask
	}
	for _, p := range pairs {
		l, ok := p.(List)
		if !ok || len(l.Elems) != 2 {
			return nil, fmt.Errorf("%s: entry is not { value, \"name\" }", call.Fn)
		}
		v, err := Eval(l.Elems[0], nil)
		if err != nil {
			return nil, fmt.Errorf("%s: value: %w", call.Fn, err)
		}
		s, ok := l.Elems[1].(Str)
		if !ok {
			return nil, fmt.Errorf("%s: entry %d: name is not a string", call.Fn, v)
		}
		if call.Fn == "__print_flags" {
			t.Flags = append(t.Flags, Flag{Bits: uint32(v), Name: s.Val})
			continue
		}
		if _, dup := t.Names[uint32(v)]; !dup {
			t.Names[uint32(v)] = s.Val
		}
	}
	return t, nil
}

//go:embed builtin_kvm_exit.format
var builtinExitFormat string

var (
	builtinOnce sync.Once
	builtinExit *ExitReasons
)

// BuiltinExitReasons returns the tables of Linux 6.18's kvm_exit, for
// kernels whose format cannot be read or parsed.
func BuiltinExitReasons() *ExitReasons {
	builtinOnce.Do(func() {
		f, err := ParseFormat(strings.NewReader(builtinExitFormat))
		if err == nil {
			builtinExit, err = ExitReasonsFromFormat(f)
		}
		if err != nil {
			panic("kvm: built-in kvm_exit format: " + err.Error())
		}
		builtinExit.Source = "built-in"
	})
	return builtinExit
}

// LoadExitReasons returns the running kernel's exit reason tables, or the
// built-in ones with the reason why the kernel's could not be used.
func LoadExitReasons() (*ExitReasons, error) {
	f, err := ReadFormat("kvm", "kvm_exit")
	if err != nil {
		return BuiltinExitReasons(), err
	}
	r, err := ExitReasonsFromFormat(f)
	if err != nil {
		return BuiltinExitReasons(), fmt.Errorf("kvm_exit format: %w", err)
	}
	return r, nil
}
