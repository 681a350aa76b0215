//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/usdt: records every hit of the probes it is attached
 * to, in one process, as usdt_arg, usdt_arg_cnt and usdt_cookie see them.
 * Compiled twice: as a plain "usdt" program and, with BPFSCOPE_SLEEPABLE,
 * as a sleepable "usdt.s" one whose string reads fault pages in. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "usdt.bpf.h"
#include "usdttest.h"

#ifdef BPFSCOPE_SLEEPABLE
#define USDT_SEC "usdt.s"
#else
#define USDT_SEC "usdt"
#endif

const volatile __u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_HITS);
	__type(key, __u32);
	__type(value, struct hit);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} nhits SEC(".maps");

const struct hit *unused_hit __attribute__((unused));

SEC(USDT_SEC)
int handle(struct pt_regs *ctx)
{
	__u32 zero = 0, idx, i;
	__u32 *n;
	struct hit *h;
	long v;
	int err;

	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	n = bpf_map_lookup_elem(&nhits, &zero);
	if (!n)
		return 0;
	/* The test programs are single-threaded: hits come one at a time
	 * (and -mcpu=v1 has no fetch-and-add). */
	idx = *n;
	*n = idx + 1;
	h = bpf_map_lookup_elem(&hits, &idx);
	if (!h)
		return 0;
	h->cookie = usdt_cookie(ctx);
	h->ip = PT_REGS_IP(ctx);
	h->arg_cnt = usdt_arg_cnt(ctx);
	h->err = 0;
	for (i = 0; i < USDT_MAX_ARGS; i++) {
		err = usdt_arg(ctx, i, &v);
		h->args[i] = v;
		/* Arguments past the last must give -ENOENT and 0. */
		if (err && !(err == -USDT_ENOENT && i >= (__u32)h->arg_cnt))
			h->err = err;
	}
	if (h->cookie & COOKIE_STR)
		h->str_ret = usdt_read_user_str(h->str, sizeof(h->str), (void *)h->args[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
