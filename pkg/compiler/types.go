package compiler

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// space is the memory a pointer points into, which decides the helper
// that reads through it.
type space int

const (
	// spaceAny reads kernel memory and falls back to user memory when
	// that fails: kernel function parameters and tracepoint fields that
	// may be either.
	spaceAny space = iota
	spaceKernel
	spaceUser
)

type tkind int

const (
	kInt tkind = iota
	kPtr
	kArray
	kStruct // struct or union, from BTF
	kVoid
	kOther // floats, functions: named for errors only
)

// ctype is the compiler's view of a C type.
type ctype struct {
	kind   tkind
	size   int
	signed bool
	elem   *ctype   // kPtr, kArray
	n      int      // kArray: number of elements (0: unknown, e.g. __data_loc)
	comp   btf.Type // kStruct: *btf.Struct or *btf.Union (nil: incomplete)
	name   string   // as C would write it
	space  space    // kPtr: what it points into
}

func intType(name string, size int, signed bool) *ctype {
	return &ctype{kind: kInt, size: size, signed: signed, name: name}
}

var (
	tInt   = intType("int", 4, true)
	tUint  = intType("unsigned int", 4, false)
	tLong  = intType("long", 8, true)
	tUlong = intType("unsigned long", 8, false)
	tU32   = intType("u32", 4, false)
	tU64   = intType("u64", 8, false)
	tBool  = intType("int", 4, true) // comparisons yield int, as in C
	tChar  = intType("char", 1, true)
	tVoid  = &ctype{kind: kVoid, name: "void"}
)

func ptrTo(elem *ctype, sp space) *ctype {
	return &ctype{kind: kPtr, size: 8, elem: elem, space: sp, name: ptrName(elem.name)}
}

func ptrName(elem string) string {
	if strings.HasSuffix(elem, "*") {
		return elem + "*"
	}
	return elem + " *"
}

func (t *ctype) String() string { return t.name }

func (t *ctype) isInt() bool    { return t.kind == kInt }
func (t *ctype) isScalar() bool { return t.kind == kInt || t.kind == kPtr }

// isCharSeq reports whether t is a char pointer or array: a string.
func (t *ctype) isCharSeq() bool {
	return (t.kind == kPtr || t.kind == kArray) && t.elem.kind == kInt && t.elem.size == 1
}

// btfSource loads the kernel's BTF once.
type btfSource struct {
	once sync.Once
	spec *btf.Spec
	err  error
	load func() (*btf.Spec, error)
}

func (b *btfSource) get() (*btf.Spec, error) {
	b.once.Do(func() {
		b.spec, b.err = b.load()
		if b.err != nil {
			b.err = fmt.Errorf("kernel BTF: %w", b.err)
		}
	})
	return b.spec, b.err
}

var kernelBTF = &btfSource{load: btf.LoadKernelSpec}

// types resolves type names against builtins and BTF.
type types struct {
	btf func() (*btf.Spec, error)
}

// errNoType is wrapped by lookups of names BTF does not have.
var errNoType = errors.New("no such type")

// named resolves a base type name: a builtin integer, void, struct/union/
// enum NAME or a typedef from BTF.
func (ts *types) named(name string) (*ctype, error) {
	if name == "void" {
		return tVoid, nil
	}
	if b, ok := probespec.LookupBuiltin(name); ok {
		return intType(name, b.Size, b.Signed), nil
	}
	if name == "float" || name == "double" {
		return &ctype{kind: kOther, name: name}, nil
	}
	spec, err := ts.btf()
	if err != nil {
		return nil, err
	}
	kw, bare, tagged := strings.Cut(name, " ")
	if !tagged {
		bare = name
	}
	candidates := []string{bare}
	if kw == "struct" || kw == "union" {
		// User-space structs share their layout with the kernel's
		// UAPI types: struct timespec is __kernel_timespec.
		candidates = append(candidates, "__kernel_"+bare, "__kernel_old_"+bare)
	}
	for _, cand := range candidates {
		found, err := spec.AnyTypesByName(cand)
		if err != nil {
			continue
		}
		for _, t := range found {
			switch t := t.(type) {
			case *btf.Struct:
				if kw == "struct" {
					return ts.fromBTF(t, spaceAny)
				}
			case *btf.Union:
				if kw == "union" {
					return ts.fromBTF(t, spaceAny)
				}
			case *btf.Enum:
				if kw == "enum" {
					return ts.fromBTF(t, spaceAny)
				}
			case *btf.Typedef:
				if !tagged {
					return ts.fromBTF(t, spaceAny)
				}
			}
		}
	}
	return nil, fmt.Errorf("%s: %w in kernel BTF", name, errNoType)
}

// resolve turns a written type into a ctype; pointers point into def
// unless the type says __user.
func (ts *types) resolve(pt probespec.Type, def space) (*ctype, error) {
	t, err := ts.named(pt.Name)
	if err != nil {
		return nil, err
	}
	sp := def
	if pt.User {
		sp = spaceUser
	}
	for range pt.Ptr {
		t = ptrTo(t, sp)
	}
	return t, nil
}

// fromBTF converts a BTF type. Structs are not expanded: their members are
// looked up on use.
func (ts *types) fromBTF(t btf.Type, sp space) (*ctype, error) {
	return fromBTF(t, sp, 0)
}

func fromBTF(t btf.Type, sp space, depth int) (*ctype, error) {
	if depth > 64 {
		return nil, fmt.Errorf("type %v nested too deeply", t)
	}
	switch t := t.(type) {
	case *btf.Typedef:
		u, err := fromBTF(t.Type, sp, depth+1)
		if err != nil {
			return nil, err
		}
		if u.kind == kInt || u.kind == kStruct {
			c := *u
			c.name = t.Name
			return &c, nil
		}
		return u, nil
	case *btf.Volatile:
		return fromBTF(t.Type, sp, depth+1)
	case *btf.Const:
		return fromBTF(t.Type, sp, depth+1)
	case *btf.Restrict:
		return fromBTF(t.Type, sp, depth+1)
	case *btf.TypeTag:
		if t.Value == "user" {
			sp = spaceUser
		}
		return fromBTF(t.Type, sp, depth+1)
	case *btf.Void:
		return tVoid, nil
	case *btf.Int:
		name := t.Name
		return intType(name, int(t.Size), t.Encoding&btf.Signed != 0), nil
	case *btf.Enum:
		return intType("enum "+t.Name, int(t.Size), t.Signed), nil
	case *btf.Pointer:
		elem, err := fromBTF(t.Target, spaceAny, depth+1)
		if err != nil {
			return nil, err
		}
		if elem.kind == kOther {
			elem = tVoid // function pointers and the like: an address
		}
		return ptrTo(elem, sp), nil
	case *btf.Array:
		elem, err := fromBTF(t.Type, sp, depth+1)
		if err != nil {
			return nil, err
		}
		return &ctype{kind: kArray, elem: elem, n: int(t.Nelems), size: elem.size * int(t.Nelems), name: fmt.Sprintf("%s[%d]", elem.name, t.Nelems), space: sp}, nil
	case *btf.Struct:
		return &ctype{kind: kStruct, size: int(t.Size), comp: t, name: "struct " + t.Name}, nil
	case *btf.Union:
		return &ctype{kind: kStruct, size: int(t.Size), comp: t, name: "union " + t.Name}, nil
	case *btf.Fwd:
		return &ctype{kind: kStruct, name: t.Kind.String() + " " + t.Name}, nil
	case *btf.Float:
		return &ctype{kind: kOther, size: int(t.Size), name: t.Name}, nil
	case *btf.FuncProto:
		return &ctype{kind: kOther, name: "function"}, nil
	}
	return &ctype{kind: kOther, name: fmt.Sprintf("%v", t)}, nil
}

// member is a struct member found by name.
type member struct {
	off      int // bytes from the start of the struct
	bitOff   int // bit offset within the byte at off, for bitfields
	bitSize  int // 0 unless a bitfield
	typ      *ctype
	btfMembr btf.Member
}

// findMember looks name up in a struct or union, descending into anonymous
// members; it returns the names that exist when it is not found.
func findMember(comp btf.Type, name string) (member, []string, bool) {
	var names []string
	var find func(t btf.Type, base int, depth int) (member, bool)
	find = func(t btf.Type, base int, depth int) (member, bool) {
		var members []btf.Member
		switch t := t.(type) {
		case *btf.Struct:
			members = t.Members
		case *btf.Union:
			members = t.Members
		default:
			return member{}, false
		}
		for _, m := range members {
			bits := base + int(m.Offset)
			if m.Name == "" && depth < 16 {
				if r, ok := find(btf.UnderlyingType(m.Type), bits, depth+1); ok {
					return r, true
				}
				continue
			}
			names = append(names, m.Name)
			if m.Name != name {
				continue
			}
			typ, err := fromBTF(m.Type, spaceAny, 0)
			if err != nil {
				return member{}, false
			}
			return member{off: bits / 8, bitOff: bits % 8, bitSize: int(m.BitfieldSize), typ: typ, btfMembr: m}, true
		}
		return member{}, false
	}
	m, ok := find(comp, 0, 0)
	return m, names, ok
}
