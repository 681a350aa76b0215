//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* An empty program on cpudist's preferred hook, the baseline of
 * BenchmarkSwitchCost: what attaching anything to sched_switch costs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_empty)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
