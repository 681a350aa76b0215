/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One event stream for every tool: a ring buffer where the kernel has one,
 * else bcc's per-CPU perf buffer. pkg/loader sets use_ringbuf before load and
 * pkg/maps reads either one. Drops are counted here, per CPU, in
 * events_dropped: ring buffer drops are silent in the kernel. */
#ifndef __BPFSCOPE_EVENTS_BPF_H
#define __BPFSCOPE_EVENTS_BPF_H

#include <bpf/bpf_helpers.h>

const volatile bool use_ringbuf = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} events_dropped SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *dropped = bpf_map_lookup_elem(&events_dropped, &zero);

	if (dropped)
		(*dropped)++;
}

static __always_inline void submit_event(void *ctx, void *data, __u64 size)
{
	if (use_ringbuf) {
		if (bpf_ringbuf_output(&events_rb, data, size, 0))
			count_drop();
		return;
	}
	/* The kernel reports perf buffer overruns with the next sample that
	 * fits, so a final burst's would go unreported: count them here too
	 * (pkg/maps then ignores the kernel's lost-sample records). */
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, size))
		count_drop();
}

#endif
