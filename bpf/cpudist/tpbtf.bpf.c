//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* sched_switch as a BTF-typed tracepoint: prev and next are trusted
 * task_struct pointers, read with plain loads. The hook runs as prev. Its
 * arguments (preempt, prev, next) are the same since 4.x; 5.18 appended
 * prev_state, which is not used. */
#define TASK_READ(t, f) ((t)->f)
#include "cpudist.bpf.h"

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct switch_info s = {
		.prev = prev,
		.next = next,
		.prev_tid = prev->pid,
		.prev_tgid = prev->tgid,
		.next_tid = next->pid,
		.next_tgid = next->tgid,
	};
	struct hist *h;
	bool for_next;

	if (targ_involuntary)
		s.involuntary = preempt || get_task_state(prev) == TASK_RUNNING;
	if (targ_offcpu)
		s.prev_exiting = prev->exit_state != 0;
	h = handle_switch(&s, &for_next);
	if (h)
		name_task(h, for_next ? next : prev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
