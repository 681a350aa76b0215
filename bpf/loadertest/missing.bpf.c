//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* Test object for pkg/loader: a kprobe on a function no kernel has. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("kprobe/bpfscope_no_such_function")
int missing(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
