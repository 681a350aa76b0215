package symbols

import (
	"strconv"
	"strings"
)

// Symbol is what an address resolves to.
type Symbol struct {
	// Name is the function's name; empty if the address lies in no known
	// function.
	Name string
	// Module is where the address lies: "kernel", the name of a kernel
	// module ("kvm"; "bpf" for BPF programs), or the path of the file a
	// process has mapped as /proc/PID/maps shows it, " (deleted)" included,
	// or a pseudo-path such as "[vdso]"; empty if unknown.
	Module string
	// Offset is the address's distance from the start of the function;
	// without a Name, the address's offset in Module's file, or the
	// address itself without a Module.
	Offset uint64
}

// Format prints s as bcc's BPF.sym(addr, pid, show_module, show_offset)
// does: "name", "name+0x1a" with showOffset, " [module]" appended with
// showModule (the module's base name: "[libc.so.6]", "[kernel]"), and
// "[unknown]" for the name when there is none (never with an offset). The
// zero Symbol prints as "[unknown]".
func Format(s Symbol, showModule, showOffset bool) string {
	b := make([]byte, 0, len(s.Name)+len(s.Module)+24)
	return string(AppendFormat(b, s, showModule, showOffset))
}

// AppendFormat appends what Format returns to b.
func AppendFormat(b []byte, s Symbol, showModule, showOffset bool) []byte {
	if s.Name == "" {
		b = append(b, "[unknown]"...)
	} else {
		b = append(b, s.Name...)
		if showOffset {
			b = append(b, "+0x"...)
			b = strconv.AppendUint(b, s.Offset, 16)
		}
	}
	if showModule && s.Module != "" {
		b = append(b, " ["...)
		b = append(b, baseName(s.Module)...)
		b = append(b, ']')
	}
	return b
}

// baseName is Python's os.path.basename: what follows the last slash.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
