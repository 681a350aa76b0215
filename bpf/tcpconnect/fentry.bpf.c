//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* fexit sees the arguments and the return value together: no stash. */
#include "tcpconnect.bpf.h"
#include <bpf/bpf_tracing.h>

SEC("fexit/tcp_v4_connect")
int BPF_PROG(tcp_v4_connect_exit, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	if (ret == 0 && task_wanted())
		report_current(ctx, sk);
	return 0;
}

SEC("fexit/tcp_v6_connect")
int BPF_PROG(tcp_v6_connect_exit, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	if (ret == 0 && task_wanted())
		report_current(ctx, sk);
	return 0;
}
