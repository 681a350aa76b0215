//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Stable tracepoints only. sock:inet_sock_set_state CLOSE->SYN_SENT fires in
 * the connecting task inside tcp_v{4,6}_connect, before the source port is
 * chosen and the SYN sent. The socket is remembered there, with the task, and
 * reported at the first of:
 *  - the connect syscall's exit in the same thread (syscalls:sys_exit_connect);
 *  - the socket leaving SYN_SENT, in whatever context (a loopback handshake or
 *    RST is often processed before the syscall returns, sometimes in softirq).
 * A socket still without a local port then never sent a SYN (the connect
 * failed before, e.g. no free port) and is dropped: the same set as the
 * kprobe backend's "tcp_v4_connect returned 0". */
#include "tcpconnect.bpf.h"

#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define IPPROTO_TCP 6

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sock *);
	__type(value, struct task_info);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct sock *);
} pending_by_tid SEC(".maps");

static __always_inline void report_pending(void *ctx, struct sock *sk)
{
	struct task_info *ti = bpf_map_lookup_elem(&pending, &sk);

	if (!ti)
		return;
	if (sk_lport(sk) != 0)
		report(ctx, sk, ti);
	bpf_map_delete_elem(&pending, &sk);
}

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct sock *sk = (struct sock *)ctx->skaddr;
	struct task_info ti;
	__u32 tid;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->oldstate == TCP_SYN_SENT) {
		report_pending(ctx, sk);
		return 0;
	}
	if (ctx->oldstate != TCP_CLOSE || ctx->newstate != TCP_SYN_SENT || !task_wanted())
		return 0;
	current_task(&ti);
	tid = ti.tid;
	bpf_map_update_elem(&pending, &sk, &ti, BPF_ANY);
	bpf_map_update_elem(&pending_by_tid, &tid, &sk, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock **skp;

	skp = bpf_map_lookup_elem(&pending_by_tid, &tid);
	if (!skp)
		return 0;
	report_pending(ctx, *skp);
	bpf_map_delete_elem(&pending_by_tid, &tid);
	return 0;
}
