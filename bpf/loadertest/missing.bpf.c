//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/loader: a tracepoint that attaches, then a kprobe on a
 * function no kernel has: Open must undo the first when the second fails. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* The same constants as good.bpf.c, so that both take one Options. */
const volatile __u32 targ_tgid = 0;

SEC("tracepoint/syscalls/sys_enter_getpgid")
int attaches(void *ctx)
{
	return 0;
}

SEC("kprobe/bpfscope_no_such_function")
int missing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
