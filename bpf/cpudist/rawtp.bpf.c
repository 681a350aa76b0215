//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* sched_switch as a raw tracepoint, for kernels without tp_btf: the same
 * arguments as an array of u64, task fields read with CO-RE helpers. The
 * hook runs as prev. */
#include "cpudist.bpf.h"

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_info s = {};
	struct hist *h;
	bool for_next;

	if (USE_SLICES) {
		h = slice_switch(KNOBS, prev, next, !targ_involuntary || preempt || get_task_state(prev) == TASK_RUNNING);
		if (h)
			name_task(h, prev);
		return 0;
	}
	s.prev = prev;
	s.next = next;
	s.prev_tid = BPF_CORE_READ(prev, pid);
	s.prev_tgid = BPF_CORE_READ(prev, tgid);
	s.next_tid = BPF_CORE_READ(next, pid);
	s.next_tgid = BPF_CORE_READ(next, tgid);
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
