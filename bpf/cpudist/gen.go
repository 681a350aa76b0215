// Package cpudist holds the BPF programs of cpudist, one object per backend
// (tp_btf, raw_tp, tracepoint, kprobe), compiled by bpf2go, and the
// benchmarks' baselines on tp_btf: an empty program (the cost of the hook
// alone) and one that only counts into a per-CPU histogram slot.
package cpudist

//go:generate go tool bpf2go -go-package cpudist -tags linux -target amd64 -type hist Tpbtf tpbtf.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package cpudist -tags linux -target amd64 -no-global-types Rawtp rawtp.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package cpudist -tags linux -target amd64 -no-global-types Tracepoint tracepoint.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package cpudist -tags linux -target amd64 -no-global-types Kprobe kprobe.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package cpudist -tags linux -target amd64 -no-global-types Empty empty.bpf.c -- -I../include -Wall -Werror

// Hist is one histogram as the BPF side keeps it.
type Hist = TpbtfHist

// MaxSlots is MAX_SLOTS in cpudist.h: the log2 slots of a Hist.
const MaxSlots = len(Hist{}.Slots)
