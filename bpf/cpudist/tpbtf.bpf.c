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
	s.prev_tid = prev->pid;
	s.prev_tgid = prev->tgid;
	s.next_tid = next->pid;
	s.next_tgid = next->tgid;
	if (targ_involuntary)
		s.involuntary = preempt || get_task_state(prev) == TASK_RUNNING;
	if (targ_offcpu)
		s.prev_exiting = prev->exit_state != 0;
	h = handle_switch(&s, &for_next);
	if (h)
		name_task(h, for_next ? next : prev);
	return 0;
}

/* The default report (system-wide, on-CPU, usecs) with its tunables
 * compiled in: the tool loads this one instead of sched_switch when no flag
 * changes what is counted, and a sched_ext scheduler is not loaded. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_default, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	slice_switch(DEFAULT_KNOBS, prev, next, true);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
