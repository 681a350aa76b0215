//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* kvmtrace: the kvm_exit / kvm_entry event stream, with kvm_hypercall (bcc's
 * classic kvm_hypercall.py, per thread rather than global), and with -u the
 * exits to userspace and port I/O. With a reason filter, an exit of a
 * listed reason is shown with the hypercall and the entry that follow it on
 * the same thread. */
#include "kvm.bpf.h"
#include "events.bpf.h"

const volatile bool do_userspace = false;
/* -r: exit reasons as (isa, value) pairs; VMX values are basic reasons,
 * compared with exit_reason & 0xffff. */
const volatile __u32 exit_filter_len = 0;
const volatile __u32 exit_filter_isa[MAX_REASONS] = {};
const volatile __u32 exit_filter_reason[MAX_REASONS] = {};
/* -r with KVM_EXIT_* names: exits to userspace. */
const volatile __u32 uexit_filter_len = 0;
const volatile __u32 uexit_filter[MAX_REASONS] = {};

/* With a filter: threads whose last exit matched, until the next entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} matched SEC(".maps");

/* Events are built here: struct event is too big for comfort on the stack
 * next to the helpers' frames. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

static __always_inline bool filtering(void)
{
	return exit_filter_len || uexit_filter_len;
}

static __always_inline bool exit_matches(__u32 isa, __u32 reason)
{
	__u32 i;

	if (!exit_filter_len)
		return false;
	for (i = 0; i < MAX_REASONS; i++) {
		if (i >= exit_filter_len)
			break;
		if (exit_filter_isa[i] != isa)
			continue;
		if (isa == 1 ? (reason & 0xffff) == exit_filter_reason[i] : reason == exit_filter_reason[i])
			return true;
	}
	return false;
}

static __always_inline bool uexit_matches(__u32 reason)
{
	__u32 i;

	for (i = 0; i < MAX_REASONS; i++) {
		if (i >= uexit_filter_len)
			break;
		if (uexit_filter[i] == reason)
			return true;
	}
	return false;
}

static __always_inline bool is_matched(__u32 tid)
{
	return bpf_map_lookup_elem(&matched, &tid) != 0;
}

static __always_inline struct event *new_event(__u32 type, __u32 pid, __u32 tid, __u32 vcpu)
{
	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);

	if (!ev)
		return 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->pid = pid;
	ev->tid = tid;
	ev->vcpu = vcpu;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	return ev;
}

SEC("tracepoint/kvm/kvm_exit")
int kvm_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 vcpu, reason, isa;
	struct event *ev;

	if (!task_wanted(pid, tid))
		return 0;
	vcpu = tp_u32(ctx, exit_vcpu_off);
	if (!vcpu_wanted(vcpu))
		return 0;
	learn_vcpu(tid, vcpu);
	reason = tp_u32(ctx, exit_reason_off);
	isa = tp_u32(ctx, exit_isa_off);
	if (filtering()) {
		if (!exit_matches(isa, reason)) {
			bpf_map_delete_elem(&matched, &tid);
			return 0;
		}
		__u8 one = 1;

		bpf_map_update_elem(&matched, &tid, &one, BPF_ANY);
	}
	ev = new_event(EV_EXIT, pid, tid, vcpu);
	if (!ev)
		return 0;
	ev->reason = reason;
	ev->isa = isa;
	ev->rip = tp_u64(ctx, exit_rip_off);
	ev->args[0] = tp_u64(ctx, exit_info1_off);
	ev->args[1] = tp_u64(ctx, exit_info2_off);
	submit_event(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int kvm_entry(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 vcpu;
	struct event *ev;

	if (!task_wanted(pid, tid))
		return 0;
	vcpu = tp_u32(ctx, entry_vcpu_off);
	if (!vcpu_wanted(vcpu))
		return 0;
	learn_vcpu(tid, vcpu);
	if (filtering()) {
		if (!is_matched(tid))
			return 0;
		bpf_map_delete_elem(&matched, &tid);
	}
	ev = new_event(EV_ENTRY, pid, tid, vcpu);
	if (!ev)
		return 0;
	ev->rip = tp_u64(ctx, entry_rip_off);
	submit_event(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tracepoint/kvm/kvm_hypercall")
int kvm_hypercall(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct event *ev;

	if (!task_wanted(pid, tid) || !tid_vcpu_wanted(tid))
		return 0;
	if (filtering() && !is_matched(tid))
		return 0;
	ev = new_event(EV_HYPERCALL, pid, tid, vcpu_of(tid));
	if (!ev)
		return 0;
	ev->args[0] = tp_u64(ctx, hc_nr_off);
	ev->args[1] = tp_u64(ctx, hc_a0_off);
	ev->args[2] = tp_u64(ctx, hc_a1_off);
	ev->args[3] = tp_u64(ctx, hc_a2_off);
	ev->args[4] = tp_u64(ctx, hc_a3_off);
	submit_event(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tracepoint/kvm/kvm_userspace_exit")
int kvm_userspace_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 reason;
	__s32 err;
	struct event *ev;

	if (!do_userspace || !task_wanted(pid, tid) || !tid_vcpu_wanted(tid))
		return 0;
	reason = tp_u32(ctx, uexit_reason_off);
	err = (__s32)tp_u32(ctx, uexit_errno_off);
	if (filtering() && !is_matched(tid) && !(err >= 0 && uexit_matches(reason)))
		return 0;
	ev = new_event(EV_USERSPACE, pid, tid, vcpu_of(tid));
	if (!ev)
		return 0;
	ev->reason = reason;
	ev->isa = (__u32)err;
	submit_event(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tracepoint/kvm/kvm_pio")
int kvm_pio(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct event *ev;

	if (!do_userspace || !task_wanted(pid, tid) || !tid_vcpu_wanted(tid))
		return 0;
	if (filtering() && !is_matched(tid) && !uexit_matches(KVM_EXIT_IO))
		return 0;
	ev = new_event(EV_PIO, pid, tid, vcpu_of(tid));
	if (!ev)
		return 0;
	ev->reason = tp_u32(ctx, pio_port_off);
	ev->isa = tp_u32(ctx, pio_rw_off);
	ev->args[0] = tp_u32(ctx, pio_size_off);
	ev->args[1] = tp_u32(ctx, pio_count_off);
	submit_event(ctx, ev, sizeof(*ev));
	return 0;
}
