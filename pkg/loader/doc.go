// Package loader probes what the running kernel supports, picks a backend from
// a tool's attach plan, sets its constants, loads it, attaches every program
// it holds and detaches everything again on Close.
//
// A tool declares its hooks as an ordered list of backends, each compiled into
// its own BPF object so that a program one kernel refuses cannot sink the
// others:
//
//	obj, err := loader.Open(loader.Plan{
//		Backends: []loader.Backend{
//			{Name: "fentry", Needs: []loader.Feature{loader.Fentry}, Spec: bpf.LoadFentry},
//			{Name: "kprobe", Needs: []loader.Feature{loader.Kprobes}, Spec: bpf.LoadKprobe},
//			{Name: "tracepoint", Spec: bpf.LoadTracepoint},
//		},
//	}, loader.Options{Constants: map[string]any{"targ_tgid": uint32(pid)}})
//
// Programs are attached according to their ELF section, as libbpf's
// skeletons do: kprobe/SYM, kretprobe/SYM (with compiler clones such as
// SYM.isra.0 resolved from /proc/kallsyms), fentry/SYM, fexit/SYM,
// tracepoint/CAT/NAME, raw_tp/NAME and tp_btf/NAME. Programs in other
// sections (uprobes, perf events) are attached by the caller through the
// Object's programs and added with Object.AddLink so that Close detaches them.
package loader
