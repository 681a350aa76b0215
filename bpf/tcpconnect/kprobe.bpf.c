//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* bcc's classic tcpv4connect design: a kprobe stashes the socket in a hash
 * keyed by thread id (bcc's currsock), the kretprobe reports it when
 * tcp_v{4,6}_connect returned 0. */
#include "tcpconnect.bpf.h"
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct sock *);
} sockets SEC(".maps");

static __always_inline void stash(struct sock *sk)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (task_wanted())
		bpf_map_update_elem(&sockets, &tid, &sk, BPF_ANY);
}

static __always_inline void report_stashed(void *ctx, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock **skp;

	skp = bpf_map_lookup_elem(&sockets, &tid);
	if (!skp)
		return; /* missed entry, or filtered out */
	/* A failed connect may not have filled in the addresses. */
	if (ret == 0)
		report_current(ctx, *skp);
	bpf_map_delete_elem(&sockets, &tid);
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(tcp_v4_connect_entry, struct sock *sk)
{
	stash(sk);
	return 0;
}

SEC("kretprobe/tcp_v4_connect")
int BPF_KRETPROBE(tcp_v4_connect_return, int ret)
{
	report_stashed(ctx, ret);
	return 0;
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(tcp_v6_connect_entry, struct sock *sk)
{
	stash(sk);
	return 0;
}

SEC("kretprobe/tcp_v6_connect")
int BPF_KRETPROBE(tcp_v6_connect_return, int ret)
{
	report_stashed(ctx, ret);
	return 0;
}
