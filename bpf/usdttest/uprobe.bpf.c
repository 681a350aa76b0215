//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/uprobe: counts the calls of the functions it is
 * attached to, per cookie, in one process (targ_tgid) or all, with the sum
 * of their first arguments (uprobe) and of their return values
 * (uretprobe). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "usdttest.h"

const volatile __u32 targ_tgid = 0;
/* False on kernels without bpf_get_attach_cookie (5.10): all count as 0. */
const volatile bool use_cookie = true;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, struct calls);
} call_counts SEC(".maps");

const struct calls *unused_calls __attribute__((unused));

static __always_inline struct calls *entry(struct pt_regs *ctx)
{
	__u64 cookie = use_cookie ? bpf_get_attach_cookie(ctx) : 0;
	struct calls zero = {}, *c;

	/* 0: every process, to test the uprobe's own PID filter. */
	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	c = bpf_map_lookup_elem(&call_counts, &cookie);
	if (c)
		return c;
	bpf_map_update_elem(&call_counts, &cookie, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&call_counts, &cookie);
}

SEC("uprobe")
int BPF_KPROBE(on_call, long arg)
{
	struct calls *c = entry(ctx);

	if (!c)
		return 0;
	__sync_fetch_and_add(&c->count, 1);
	__sync_fetch_and_add(&c->arg_sum, arg);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return, long ret)
{
	struct calls *c = entry(ctx);

	if (!c)
		return 0;
	__sync_fetch_and_add(&c->count, 1);
	__sync_fetch_and_add(&c->ret_sum, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
