package compiler

import (
	"fmt"

	"github.com/bpfscope/bpfscope/pkg/loader"
	"github.com/bpfscope/bpfscope/pkg/uprobe"
)

// Attach attaches what pkg/loader leaves to the caller (uprobes,
// uretprobes and USDT call sites, with their semaphores as reference
// counters) and hands the links to obj, whose Close detaches them. pid
// limits user probes to one process (0: every process).
func (c *Collection) Attach(obj *loader.Object, pid int) error {
	for _, cp := range c.Probes {
		for _, a := range cp.attach {
			prog := obj.Program(a.prog)
			if prog == nil {
				return fmt.Errorf("%s: program %s not loaded", cp.Hook, a.prog)
			}
			err := uprobe.AttachFile(obj, prog, a.path, a.offset, uprobe.Options{Return: a.ret, PID: pid, RefCtrOffset: a.refCtr})
			if err != nil {
				return fmt.Errorf("%s: %w", cp.Hook, err)
			}
		}
	}
	return nil
}

// Listing returns the readable assembly of every program.
func (c *Collection) Listing() string {
	s := ""
	for i, cp := range c.Probes {
		if i > 0 {
			s += "\n"
		}
		s += cp.Listing
	}
	return s
}
