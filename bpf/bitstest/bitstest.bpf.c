//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* bits.bpf.h's functions, run in the kernel by BPF_PROG_TEST_RUN: the first
 * argument is the value, the results go to globals. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bits.bpf.h"

__u64 out_slot;
__u64 out_us;
__u64 out_ms;

SEC("raw_tp")
int bits(__u64 *ctx)
{
	__u64 v = ctx[0];

	out_slot = log2_slot(v);
	out_us = ns_to_us(v);
	out_ms = ns_to_ms(v);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
