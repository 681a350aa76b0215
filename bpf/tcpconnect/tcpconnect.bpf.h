/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Filtering, stashing and reporting shared by the three tcpconnect backends
 * (kprobe, fentry, tracepoint). Each backend only decides when a connect
 * attempt has got as far as sending a SYN, then calls report(). */
#ifndef __TCPCONNECT_BPF_H
#define __TCPCONNECT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.bpf.h"
#include "maps.bpf.h"
#include "tcpconnect.h"

#define AF_INET 2
#define AF_INET6 10

const volatile __u32 targ_tgid = 0;
const volatile bool filter_uid = false;
const volatile __u32 targ_uid = 0;
const volatile __u16 targ_family = 0;
const volatile bool do_count = false;
const volatile __u32 filter_ports_len = 0;
const volatile __u16 filter_ports[MAX_PORTS] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct count_key);
	__type(value, __u64);
} counts SEC(".maps");

/* Force BTF for the Go side. */
const struct event *unused_event __attribute__((unused));
const struct count_key *unused_count_key __attribute__((unused));

static __always_inline bool task_wanted(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (targ_tgid && (pid_tgid >> 32) != targ_tgid)
		return false;
	if (filter_uid && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	return true;
}

static __always_inline bool port_wanted(__u16 dport)
{
	__u32 i;

	if (!filter_ports_len)
		return true;
	for (i = 0; i < MAX_PORTS; i++) {
		if (i >= filter_ports_len)
			break;
		if (filter_ports[i] == dport)
			return true;
	}
	return false;
}

static __always_inline bool family_wanted(__u16 af)
{
	if (af != AF_INET && af != AF_INET6)
		return false;
	return !targ_family || targ_family == af;
}

/* The connecting task, as seen when the connect started. */
struct task_info {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	char comm[TASK_COMM_LEN];
};

static __always_inline void current_task(struct task_info *ti)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	ti->ts_ns = bpf_ktime_get_ns();
	ti->pid = pid_tgid >> 32;
	ti->tid = (__u32)pid_tgid;
	ti->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(ti->comm, sizeof(ti->comm));
}

/* sk_lport returns the local port in host order. inet_sport, unlike skc_num,
 * survives the socket's close (inet_put_port clears skc_num). */
static __always_inline __u16 sk_lport(struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

/* report emits an event, or counts it in count mode, for a socket whose
 * connect sent a SYN; ti is the task that connected. */
static __always_inline void report(void *ctx, struct sock *sk, const struct task_info *ti)
{
	__u16 af = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	struct event ev = {};

	if (!family_wanted(af) || !port_wanted(dport))
		return;

	if (af == AF_INET) {
		__u32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(ev.saddr, &saddr, sizeof(saddr));
		__builtin_memcpy(ev.daddr, &daddr, sizeof(daddr));
	} else {
		BPF_CORE_READ_INTO(&ev.saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&ev.daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}

	if (do_count) {
		struct count_key key = {};
		static const __u64 zero;
		__u64 *n;

		__builtin_memcpy(key.saddr, ev.saddr, sizeof(key.saddr));
		__builtin_memcpy(key.daddr, ev.daddr, sizeof(key.daddr));
		key.af = af;
		key.dport = dport;
		n = lookup_or_try_init(&counts, &key, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}

	ev.af = af;
	ev.dport = dport;
	ev.lport = sk_lport(sk);
	ev.pid = ti->pid;
	ev.tid = ti->tid;
	ev.uid = ti->uid;
	ev.ts_ns = ti->ts_ns;
	__builtin_memcpy(ev.comm, ti->comm, sizeof(ev.comm));
	submit_event(ctx, &ev, sizeof(ev));
}

/* report_current reports sk on behalf of the current task. */
static __always_inline void report_current(void *ctx, struct sock *sk)
{
	struct task_info ti;

	current_task(&ti);
	report(ctx, sk, &ti);
}

char LICENSE[] SEC("license") = "GPL";

#endif
