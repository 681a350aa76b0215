package usdt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// The argument spec layout shared with bpf/include/usdt.bpf.h.
const (
	argTypeConst = 0
	argTypeReg   = 1
	argTypeDeref = 2

	argSpecSize = 24
	specSize    = MaxArgs*argSpecSize + 16
)

// nativeEndian is the byte order of the spec map: x86-64's.
var nativeEndian = binary.LittleEndian

// ptRegsOffset is offsetof(struct pt_regs, reg) on x86-64.
var ptRegsOffset = map[string]int16{
	"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40,
	"r11": 48, "r10": 56, "r9": 64, "r8": 72, "ax": 80, "cx": 88,
	"dx": 96, "si": 104, "di": 112, "ip": 128, "sp": 152,
}

// argSpec mirrors struct usdt_arg_spec.
type argSpec struct {
	ValOff      uint64
	ArgType     uint32
	RegOff      int16
	IdxRegOff   int16
	ScaleShift  uint8
	RegShift    uint8
	ArgSigned   uint8
	ArgBitshift uint8
	Pad         uint32
}

// spec mirrors struct usdt_spec.
type spec struct {
	Args   [MaxArgs]argSpec
	Cookie uint64
	ArgCnt int16
	Pad    [3]int16
}

// encodeSpec builds the spec of one call site: how usdt_arg finds each of
// its arguments.
func encodeSpec(p Probe, cookie uint64) ([]byte, error) {
	if p.Err != nil {
		return nil, p.Err
	}
	if len(p.Args) > MaxArgs {
		return nil, fmt.Errorf("%d arguments, at most %d", len(p.Args), MaxArgs)
	}
	s := spec{Cookie: cookie, ArgCnt: int16(len(p.Args))}
	for i, a := range p.Args {
		as, err := encodeArg(a, p.Location)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		s.Args[i] = as
	}
	var b bytes.Buffer
	if err := binary.Write(&b, nativeEndian, &s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeArg(a Arg, location uint64) (argSpec, error) {
	as := argSpec{RegOff: -1, IdxRegOff: -1}
	size := a.Size
	if a.Kind == ArgReg && a.RegSize < size {
		// "8@%eax": the register holds the whole value.
		size = a.RegSize
	}
	if size != 1 && size != 2 && size != 4 && size != 8 {
		return as, fmt.Errorf("size %d", size)
	}
	as.ArgBitshift = uint8(64 - 8*size)
	if a.Signed {
		as.ArgSigned = 1
	}
	reg := func(name string) (int16, error) {
		off, ok := ptRegsOffset[name]
		if !ok {
			return 0, fmt.Errorf("register %s: not in struct pt_regs", name)
		}
		return off, nil
	}
	var err error
	switch a.Kind {
	case ArgConst:
		as.ArgType = argTypeConst
		as.ValOff = uint64(a.Offset)
	case ArgReg:
		as.ArgType = argTypeReg
		if as.RegOff, err = reg(a.Reg); err != nil {
			return as, err
		}
		if a.RegHigh {
			as.RegShift = 8
		}
	case ArgMem:
		as.ArgType = argTypeDeref
		as.ValOff = uint64(a.Offset)
		if a.Reg != "" {
			if as.RegOff, err = reg(a.Reg); err != nil {
				return as, err
			}
		}
		if a.Index != "" {
			if as.IdxRegOff, err = reg(a.Index); err != nil {
				return as, err
			}
			switch a.Scale {
			case 1, 2, 4, 8:
				as.ScaleShift = uint8(bitsLen(a.Scale) - 1)
			default:
				return as, fmt.Errorf("scale %d", a.Scale)
			}
		}
		if a.Reg == "ip" {
			// The kernel sets ip to the call site's address before
			// the program runs; the symbol is as far from it at run
			// time as in the file.
			if a.Symbol == "" {
				return as, fmt.Errorf("RIP-relative operand without a symbol")
			}
			as.ValOff = a.Address + uint64(a.Offset) - location
		}
	default:
		return as, fmt.Errorf("argument kind %d", a.Kind)
	}
	return as, nil
}

func bitsLen(v int) int {
	n := 0
	for ; v > 0; v >>= 1 {
		n++
	}
	return n
}

type fileID struct{ dev, ino uint64 }

func statID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{st.Dev, st.Ino}, nil
}
