// Package compiler compiles probe specifiers (pkg/probespec) straight to BPF
// instructions with cilium/ebpf's asm package: no C, no LLVM at run time.
//
// Types come from the running kernel's BTF (function prototypes, struct
// layouts, typedefs), from tracepoint format files, from the C types a
// specifier's signature declares and from USDT notes. Each [Probe] names a
// hook, the values to collect, an optional filter and an [Action]:
//
//	Count  a per-CPU hash from the values to a count (argdist -C, funccount)
//	Log2   a per-CPU array of 65 log2 slots of one value (argdist -H, funclatency)
//	Emit   an EventHeader and the values, sent through the ring buffer or the
//	       per-CPU perf buffer that pkg/loader configures (trace)
//
// [Compile] type-checks the probes and returns a [Collection]: an
// *ebpf.CollectionSpec for pkg/loader (whose programs are named p0, p1...,
// with the sections the loader attaches by: tracepoint/CAT/NAME,
// kprobe/FUNC, kretprobe/FUNC, fentry/FUNC, fexit/FUNC), a [Compiled] per
// probe with the [Layout] of its records, the attachments the loader does
// not make ([Collection.Attach]: uprobes, uretprobes, USDT call sites) and a
// readable assembly listing. [ReadCounts] and [ReadLog2] read the maps.
//
//	coll, err := compiler.Compile(probes, compiler.Options{Backend: compiler.Kprobe, PID: pid})
//	obj, err := loader.Open(loader.Plan{Backends: []loader.Backend{{Name: "kprobe",
//		Needs: []loader.Feature{loader.Kprobes},
//		Spec:  func() (*ebpf.CollectionSpec, error) { return coll.Spec, nil }}}}, loader.Options{})
//	err = coll.Attach(obj, pid)
//	counts, err := compiler.ReadCounts(obj.Map(coll.Probes[0].Map), true)
//
// Code generation keeps to what every kernel's verifier accepts (5.10 on):
// memory is read through bpf_probe_read_{kernel,user}[_str] into the stack,
// never dereferenced directly; context fields are loaded at constant, aligned
// offsets the verifier allows for the program type; kernel pointers from
// fentry arguments are read as numbers; signed division is done without the
// v4 instruction set; no dead code is left. What cannot be turned into
// verifiable code (constant shifts out of range, division by a constant
// zero, more than 512 bytes of stack or of map key, parameters passed on the
// stack) is an *probespec.Error pointing into the specifier, never a
// verifier log.
//
// Hooks, by probe kind and backend:
//
//	t:CAT:NAME          tracepoint program, fields at their format-file offsets
//	p::FUNC, r::FUNC    kprobe/kretprobe (pt_regs: di si dx cx r8 r9, ax) or
//	                    fentry/fexit (arguments from the u64 context array)
//	p:LIB:FUNC, r:...   uprobe/uretprobe (pt_regs), found with pkg/uprobe
//	u:LIB:PROBE         uprobes on the call sites pkg/usdt finds, arguments
//	                    read inline (one program per argument layout)
//
// $latency and $entry(param) in return probes add an entry program that
// stores the entry time and parameters in a hash keyed by thread id.
package compiler
