//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/loader: the verifier must refuse this program, which
 * dereferences a map value without checking it for NULL. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int rejected(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &zero);

	return *v;
}

char LICENSE[] SEC("license") = "GPL";
