//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Baselines on cpudist's preferred hook for its benchmarks: an empty
 * program, what attaching anything to sched_switch costs
 * (BenchmarkSwitchCost), and one that only adds 1 to a slot of a per-CPU
 * histogram, the least a histogram tool does per event
 * (BenchmarkProgramRuntime). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} counts SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_empty)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_count)
{
	__u32 zero = 0;
	__u64 *h = bpf_map_lookup_elem(&counts, &zero);

	if (h)
		h[1]++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
