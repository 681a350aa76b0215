//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* sched_switch as a raw tracepoint, for kernels without tp_btf: the same
 * arguments as an array of u64, task fields read with CO-RE helpers. The
 * hook runs as prev. */
#include "cpudist.bpf.h"

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_info s = {
		.prev = prev,
		.next = next,
		.prev_tid = BPF_CORE_READ(prev, pid),
		.prev_tgid = BPF_CORE_READ(prev, tgid),
		.next_tid = BPF_CORE_READ(next, pid),
		.next_tgid = BPF_CORE_READ(next, tgid),
	};
	struct hist *h;
	bool for_next;

	if (targ_involuntary)
		s.involuntary = preempt || get_task_state(prev) == TASK_RUNNING;
	if (targ_offcpu)
		s.prev_exiting = BPF_CORE_READ(prev, exit_state) != 0;
	h = handle_switch(&s, &for_next);
	if (h)
		name_task(h, for_next ? next : prev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
