/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What kvmexit and kvmtrace share: reading the kvm tracepoints' fields at
 * offsets taken from the running kernel's tracefs format files (the records
 * change between kernels, and where KVM is a module its types are not in
 * vmlinux BTF for CO-RE), and the process, thread and vCPU filters. */
#ifndef __KVM_BPF_H
#define __KVM_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kvm.h"

#define NO_FIELD 0xffffffff
#define KVM_EXIT_IO 2

/* Field offsets, set by internal/kvm.Layout; defaults are Linux 6.18's. */
const volatile __u32 exit_reason_off = 8;
const volatile __u32 exit_isa_off = 24;
const volatile __u32 exit_vcpu_off = 56;
const volatile __u32 exit_rip_off = 16;
const volatile __u32 exit_info1_off = 32;
const volatile __u32 exit_info2_off = 40;
const volatile __u32 entry_vcpu_off = 8;
const volatile __u32 entry_rip_off = 16;
const volatile __u32 uexit_reason_off = 8;
const volatile __u32 uexit_errno_off = 12;
const volatile __u32 pio_rw_off = 8;
const volatile __u32 pio_port_off = 12;
const volatile __u32 pio_size_off = 16;
const volatile __u32 pio_count_off = 20;
const volatile __u32 hc_nr_off = 8;
const volatile __u32 hc_a0_off = 16;
const volatile __u32 hc_a1_off = 24;
const volatile __u32 hc_a2_off = 32;
const volatile __u32 hc_a3_off = 40;

/* Filters: -p, -t, -T, -v. */
const volatile __u32 targ_tgid = 0;
const volatile __u32 targ_tid = 0;
const volatile __u32 targ_tids_len = 0;
const volatile __u32 targ_tids[MAX_TIDS] = {};
const volatile bool filter_vcpu = false;
const volatile __u32 targ_vcpu = 0;

/* tp_u32 and tp_u64 read a field of a tracepoint record at a run-time
 * offset (the verifier refuses variable offsets into the context). */
static __always_inline __u32 tp_u32(void *ctx, __u32 off)
{
	__u32 v = 0;

	if (off == NO_FIELD)
		return 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + off);
	return v;
}

static __always_inline __u64 tp_u64(void *ctx, __u32 off)
{
	__u64 v = 0;

	if (off == NO_FIELD)
		return 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + off);
	return v;
}

/* task_wanted applies -p, -t and -T. */
static __always_inline bool task_wanted(__u32 pid, __u32 tid)
{
	__u32 i;

	if (targ_tgid && pid != targ_tgid)
		return false;
	if (targ_tid && tid != targ_tid)
		return false;
	if (!targ_tids_len)
		return true;
	for (i = 0; i < MAX_TIDS; i++) {
		if (i >= targ_tids_len)
			break;
		if (targ_tids[i] == tid)
			return true;
	}
	return false;
}

/* The vCPU each thread last ran, learned from kvm_exit and kvm_entry (and
 * from KVM_RUN ioctls, see sys_enter_ioctl below), for events that carry no
 * vcpu_id: kvm_userspace_exit, kvm_pio, kvm_hypercall. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} tid_vcpu SEC(".maps");

static __always_inline void learn_vcpu(__u32 tid, __u32 vcpu)
{
	__u32 *cur = bpf_map_lookup_elem(&tid_vcpu, &tid);

	if (cur && *cur == vcpu)
		return;
	bpf_map_update_elem(&tid_vcpu, &tid, &vcpu, BPF_ANY);
}

static __always_inline __u32 vcpu_of(__u32 tid)
{
	__u32 *cur = bpf_map_lookup_elem(&tid_vcpu, &tid);

	return cur ? *cur : NO_FIELD;
}

/* vcpu_wanted applies -v to an event with a vcpu_id field. */
static __always_inline bool vcpu_wanted(__u32 vcpu)
{
	return !filter_vcpu || vcpu == targ_vcpu;
}

/* tid_vcpu_wanted applies -v to an event without one. */
static __always_inline bool tid_vcpu_wanted(__u32 tid)
{
	return !filter_vcpu || vcpu_of(tid) == targ_vcpu;
}

#define KVM_RUN 0xae80
#define OTHER_VCPU 0xfffffffe

/* The vCPU fds of process targ_tgid (fd -> vCPU id), filled by the Go
 * side from /proc/PID/fd ("anon_inode:kvm-vcpu:ID"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __s32);
	__type(value, __u32);
} vcpu_fds SEC(".maps");

/* syscalls:sys_enter_ioctl's record: common fields, then the syscall
 * number and the arguments, each in 8 bytes. */
struct sys_enter_ioctl_args {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 fd;
	__u64 cmd;
	__u64 arg;
};

/* For events without vcpu_id where kvm_entry may not fire (PVM): a KVM_RUN
 * on a vCPU fd tells which vCPU the thread runs. Attached only with -p,
 * when such events are traced. */
SEC("tracepoint/syscalls/sys_enter_ioctl")
int sys_enter_ioctl(struct sys_enter_ioctl_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__s32 fd;
	__u32 *vcpu;

	if ((id >> 32) != targ_tgid || ctx->cmd != KVM_RUN)
		return 0;
	fd = (__s32)ctx->fd;
	vcpu = bpf_map_lookup_elem(&vcpu_fds, &fd);
	learn_vcpu((__u32)id, vcpu ? *vcpu : OTHER_VCPU);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

#endif
