// Package usdt reads the USDT probes (systemtap's sys/sdt.h, DTrace-style
// static probes) of user-space binaries and attaches BPF programs to them.
//
// A probe is a note in .note.stapsdt: provider, name, the call site's
// address, the address of .stapsdt.base (to undo prelink's moves), an
// optional semaphore, and an argument string in the assembler's syntax,
// "-4@%edi 8@-16(%rbp) -4@$5". ReadProbes and Probes list them; Find
// collects every call site of one probe in a binary and its shared
// libraries. Attach puts one uprobe on each call site, with the semaphore
// as the kernel-managed reference counter (so the traced program sees the
// probe enabled exactly while it is attached) and the BPF cookie set to the
// index of the site's argument spec in the usdt_specs map, which the
// shared BPF helper usdt_arg(ctx, n, &val) of bpf/include/usdt.bpf.h reads.
// Kernels without BPF cookies (before 5.15) find the spec by the call
// site's address instead; Constants tells the BPF side which.
//
//	sites, err := usdt.Find("/usr/bin/node", pid, "node", "http__server__request")
//	obj, err := loader.Open(plan, loader.Options{Constants: usdt.Constants()})
//	err = usdt.Attach(obj, obj.Program("handle"), sites, usdt.AttachOptions{PID: pid})
package usdt
