//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* sched:sched_switch as a classic tracepoint, a stable ABI: pids, names and
 * prev_state, but no task pointers. The hook runs as prev, so prev's process
 * and task_struct come from the current task; next's process is unknown
 * (see handle_switch), so spans are measured with timestamps.
 *
 * prev_state is what the tracepoint reports (since 4.14): TASK_REPORT_MAX
 * (0x100) for a preempted task, else 1 << (state index - 1), 0 for a task
 * still running. */
#define HOOK_KNOWS_NEXT 0
#include "cpudist.bpf.h"

#define TASK_REPORT_MAX 0x100

SEC("tracepoint/sched/sched_switch")
int sched_switch(struct trace_event_raw_sched_switch *ctx)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	struct switch_info s = {
		.prev = cur,
		.prev_tid = ctx->prev_pid,
		.prev_tgid = bpf_get_current_pid_tgid() >> 32,
		.next_tid = ctx->next_pid,
	};
	struct hist *h;
	bool for_next;

	if (targ_involuntary) {
		long state = ctx->prev_state;

		s.involuntary = state == TASK_RUNNING || (state & TASK_REPORT_MAX);
	}
	if (targ_offcpu)
		s.prev_exiting = BPF_CORE_READ(cur, exit_state) != 0;
	h = handle_switch(&s, &for_next);
	if (!h)
		return 0;
	if (for_next) /* only the thread's name is known */
		bpf_probe_read_kernel_str(&h->comm, sizeof(h->comm), ctx->next_comm);
	else
		name_task(h, cur);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
