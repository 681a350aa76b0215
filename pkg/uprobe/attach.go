package uprobe

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/bpfscope/bpfscope/pkg/loader"
)

// Probe is a uprobe or uretprobe to attach.
type Probe struct {
	// Target is the binary: a path, a library name ("c"), an executable
	// in PATH, or "" with PID for the process's executable. See
	// FindTarget.
	Target string
	// Symbol is the function, possibly versioned ("memcpy@@GLIBC_2.14").
	// Empty with Address.
	Symbol string
	// Offset is added to the symbol's address: a probe inside the
	// function. It must be inside the function if its size is known.
	Offset uint64
	// Address is a virtual address in the target, as nm and objdump show
	// it, for probes without a symbol.
	Address uint64
	// Return makes a uretprobe: the program runs when the function
	// returns.
	Return bool
	// PID limits the probe to one process (all its threads) and looks the
	// target up in that process's mount namespace; 0 probes every process
	// that runs the binary.
	PID int
	// Cookie is the value bpf_get_attach_cookie returns (kernel 5.15+).
	Cookie uint64
}

// Attached says where a probe went.
type Attached struct {
	Target Target
	// Symbol is the function the probe is in; zero for Address probes.
	Symbol Symbol
	// FileOffset is the file offset the kernel was given.
	FileOffset uint64
}

// Attach resolves p and attaches prog there, handing the link to obj so
// that obj.Close detaches it.
func Attach(obj *loader.Object, prog *ebpf.Program, p Probe) (Attached, error) {
	var a Attached
	t, err := FindTarget(p.Target, p.PID)
	if err != nil {
		return a, err
	}
	a.Target = t
	f, err := t.Open()
	if err != nil {
		return a, err
	}
	defer f.Close()
	switch {
	case p.Symbol != "":
		sym, err := f.LookupFunction(p.Symbol)
		if err != nil {
			return a, err
		}
		if sym.IFunc {
			return a, fmt.Errorf("%s in %s: %w: a uprobe there fires when the dynamic linker binds it, not on calls; trace the implementation it selects instead", p.Symbol, t.Path, ErrIFunc)
		}
		if sym.Size > 0 && p.Offset >= sym.Size {
			return a, fmt.Errorf("%s+%#x in %s: offset outside the function (%d bytes)", p.Symbol, p.Offset, t.Path, sym.Size)
		}
		a.Symbol = sym
		a.FileOffset = sym.Offset + p.Offset
	case p.Address != 0:
		off, err := f.FileOffset(p.Address+p.Offset, true)
		if err != nil {
			return a, fmt.Errorf("%s: %w", t.Path, err)
		}
		a.FileOffset = off
	default:
		return a, errors.New("uprobe: want a symbol or an address")
	}
	err = AttachFile(obj, prog, t.HostPath, a.FileOffset, Options{Return: p.Return, PID: p.PID, Cookie: p.Cookie})
	if err != nil {
		what := p.Symbol
		if what == "" {
			what = fmt.Sprintf("%#x", p.Address)
		}
		return a, fmt.Errorf("%s:%s: %w", t.Path, what, err)
	}
	return a, nil
}

// Options configure AttachFile.
type Options struct {
	// Return makes a uretprobe.
	Return bool
	// PID limits the probe to one process.
	PID int
	// Cookie is the value bpf_get_attach_cookie returns (kernel 5.15+).
	Cookie uint64
	// RefCtrOffset is the file offset of a USDT semaphore, which the
	// kernel increments in every process that maps the file while the
	// probe is attached (kernel 4.20+).
	RefCtrOffset uint64
}

// AttachFile attaches prog at a file offset of the binary at path (a path
// this process can open) and hands the link to obj.
func AttachFile(obj *loader.Object, prog *ebpf.Program, path string, fileOffset uint64, opts Options) error {
	if prog == nil {
		return errors.New("uprobe: no program")
	}
	if fileOffset == 0 {
		return errors.New("uprobe: file offset 0 is not code")
	}
	if opts.Cookie != 0 {
		if err := loader.Have(loader.Cookies); err != nil {
			return fmt.Errorf("uprobe cookie: %w", err)
		}
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return err
	}
	uo := &link.UprobeOptions{Address: fileOffset, PID: opts.PID, Cookie: opts.Cookie, RefCtrOffset: opts.RefCtrOffset}
	var l link.Link
	if opts.Return {
		l, err = ex.Uretprobe("", prog, uo)
	} else {
		l, err = ex.Uprobe("", prog, uo)
	}
	switch {
	case errors.Is(err, os.ErrPermission) && os.Geteuid() != 0:
		return fmt.Errorf("%w: %w", loader.ErrNotPermitted, err)
	case errors.Is(err, link.ErrNotSupported):
		return fmt.Errorf("uprobes: %w: %w", loader.ErrNotSupported, err)
	case err != nil:
		return err
	}
	obj.AddLink(l)
	return nil
}
