//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/loader and pkg/maps: counts getpgid(MAGIC) calls of
 * one process and reports each through the event stream. Nothing but the
 * test makes that call (the Go runtime calls getpid on its own). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.bpf.h"

const volatile __u32 targ_tgid = 0;

#define MAGIC 0x7ffffff0

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct event {
	__u32 pid;
	__u32 seq;
};

const struct event *unused_event __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_getpgid")
int count_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	__u64 *n;
	struct event ev;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || ctx->args[0] != MAGIC)
		return 0;
	n = bpf_map_lookup_elem(&calls, &zero);
	if (!n)
		return 0;
	/* Not atomic: the test makes its calls one after another. (An atomic
	 * fetch-and-add whose result is used needs 5.12.) */
	ev.pid = targ_tgid;
	ev.seq = *n;
	*n = ev.seq + 1;
	submit_event(ctx, &ev, sizeof(ev));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
