//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* finish_task_switch(prev) as a kprobe, bcc's original hook, for kernels
 * with kprobes but none of the tracepoint flavours. It runs after the switch,
 * as next; prev is its first argument, also in the .isra.N clones GCC makes
 * of it (the loader attaches to those). There is no preempt flag here: a
 * switch counts as involuntary if prev is still TASK_RUNNING, as in
 * libbpf-tools. */
#define HOOK_RUNS_AS_NEXT 1
#include "cpudist.bpf.h"

SEC("kprobe/finish_task_switch")
int BPF_KPROBE(finish_task_switch, struct task_struct *prev)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *next = (struct task_struct *)bpf_get_current_task();
	struct switch_info s = {
		.prev = prev,
		.next = next,
		.prev_tid = BPF_CORE_READ(prev, pid),
		.prev_tgid = BPF_CORE_READ(prev, tgid),
		.next_tid = (__u32)pid_tgid,
		.next_tgid = pid_tgid >> 32,
	};
	struct hist *h;
	bool for_next;

	if (targ_involuntary)
		s.involuntary = get_task_state(prev) == TASK_RUNNING;
	if (targ_offcpu)
		s.prev_exiting = BPF_CORE_READ(prev, exit_state) != 0;
	h = handle_switch(&s, &for_next);
	if (h)
		name_task(h, for_next ? next : prev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
