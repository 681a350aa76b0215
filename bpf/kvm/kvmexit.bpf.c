//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/* kvmexit: count VM exits per thread and reason (kvm:kvm_exit), time them
 * from exit to the next entry on the same thread (-L), count the exits that
 * reach the VMM (kvm:kvm_userspace_exit, --userspace) with the port of I/O
 * exits (kvm:kvm_pio), and count activity so that the Go side can tell a
 * silent kvm_exit (e.g. PVM) from idle vCPUs.
 *
 * Which programs are attached depends on the mode (loader.Options.Skip):
 *   counts:      kvm_exit, kvm_userspace_exit
 *   -L:          kvm_exit, kvm_entry, kvm_userspace_exit
 *   --userspace: kvm_userspace_exit, kvm_pio, kvm_entry, and with -v
 *                sys_enter_ioctl */
#include "kvm.bpf.h"
#include "bits.bpf.h"
#include "maps.bpf.h"

const volatile bool do_latency = false;
const volatile bool do_userspace = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct exit_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 10240);
	__type(key, struct uexit_key);
	__type(value, __u64);
} ucounts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ACT_NR);
	__type(key, __u32);
	__type(value, __u64);
} activity SEC(".maps");

/* -L: the last exit of each thread, and the histograms. */
struct exit_start {
	__u64 ts;
	__u32 reason;
	__u32 isa;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct exit_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct lat_key);
	__type(value, __u64);
} hist SEC(".maps");

/* --userspace: the port of the last OUT a thread made since it entered the
 * guest (kvm_pio fires before the exit for an OUT), and the threads whose
 * last I/O exit was not an OUT: an IN, whose kvm_pio fires when the next
 * KVM_RUN completes it. The value is the pid. */
struct pio {
	__u16 port;
	__u8 size;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pio);
} pio_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} pending_in SEC(".maps");

/* Force BTF for the Go side. */
const struct exit_key *unused_exit_key __attribute__((unused));
const struct uexit_key *unused_uexit_key __attribute__((unused));
const struct lat_key *unused_lat_key __attribute__((unused));

static const __u64 zero;

static __always_inline void count_activity(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&activity, &what);

	if (n)
		(*n)++;
}

static __always_inline void count_uexit(struct uexit_key *key)
{
	__u64 *n = lookup_or_try_init(&ucounts, key, &zero);

	if (n)
		(*n)++;
}

SEC("tracepoint/kvm/kvm_exit")
int kvm_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 reason, isa;

	if (!task_wanted(pid, tid))
		return 0;
	if (filter_vcpu && !vcpu_wanted(tp_u32(ctx, exit_vcpu_off)))
		return 0;
	count_activity(ACT_EXIT);
	reason = tp_u32(ctx, exit_reason_off);
	isa = tp_u32(ctx, exit_isa_off);
	if (do_latency) {
		struct exit_start s = { .ts = bpf_ktime_get_ns(), .reason = reason, .isa = isa };

		bpf_map_update_elem(&start, &tid, &s, BPF_ANY);
		return 0;
	}

	struct exit_key key = { .pid = pid, .tid = tid, .reason = reason, .isa = isa };
	__u64 *n = lookup_or_try_init(&counts, &key, &zero);

	if (n)
		(*n)++;
	return 0;
}

SEC("tracepoint/kvm/kvm_entry")
int kvm_entry(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	__u32 vcpu;

	if (!task_wanted(pid, tid))
		return 0;
	vcpu = tp_u32(ctx, entry_vcpu_off);
	if (do_userspace) {
		/* Back in the guest: a pending OUT was handled in the kernel. */
		bpf_map_delete_elem(&pio_out, &tid);
		if (filter_vcpu)
			learn_vcpu(tid, vcpu);
	}
	if (!vcpu_wanted(vcpu))
		return 0;
	count_activity(ACT_ENTRY);
	if (!do_latency)
		return 0;

	struct exit_start *s = bpf_map_lookup_elem(&start, &tid);

	if (!s)
		return 0;
	struct lat_key key = {
		.reason = s->reason,
		.isa = s->isa,
		.slot = log2_slot(bpf_ktime_get_ns() - s->ts),
	};
	bpf_map_delete_elem(&start, &tid);
	__u64 *n = lookup_or_try_init(&hist, &key, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

/* flush_pending counts an I/O exit whose port never showed up. */
static __always_inline void flush_pending(__u32 tid)
{
	__u32 *pid = bpf_map_lookup_elem(&pending_in, &tid);

	if (!pid)
		return;
	struct uexit_key key = { .pid = *pid, .tid = tid, .reason = KVM_EXIT_IO, .dir = DIR_UNKNOWN };

	bpf_map_delete_elem(&pending_in, &tid);
	count_uexit(&key);
}

SEC("tracepoint/kvm/kvm_userspace_exit")
int kvm_userspace_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;
	struct pio *out;

	if (!task_wanted(pid, tid))
		return 0;
	if (do_userspace && !tid_vcpu_wanted(tid))
		return 0;
	count_activity(ACT_USERSPACE);
	if (!do_userspace)
		return 0;

	struct uexit_key key = { .pid = pid, .tid = tid };
	__s32 err = (__s32)tp_u32(ctx, uexit_errno_off);

	flush_pending(tid);
	out = bpf_map_lookup_elem(&pio_out, &tid);
	if (err < 0) {
		key.err = err;
	} else {
		key.reason = tp_u32(ctx, uexit_reason_off);
		if (key.reason == KVM_EXIT_IO) {
			if (!out) {
				/* An IN: its port comes with the next KVM_RUN. */
				bpf_map_update_elem(&pending_in, &tid, &pid, BPF_ANY);
				return 0;
			}
			key.port = out->port;
			key.size = out->size;
			key.dir = DIR_OUT;
		}
	}
	if (out)
		bpf_map_delete_elem(&pio_out, &tid);
	count_uexit(&key);
	return 0;
}

SEC("tracepoint/kvm/kvm_pio")
int kvm_pio(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, tid = (__u32)id;

	if (!task_wanted(pid, tid) || !tid_vcpu_wanted(tid))
		return 0;
	if (tp_u32(ctx, pio_rw_off)) {
		struct pio p = {
			.port = tp_u32(ctx, pio_port_off),
			.size = tp_u32(ctx, pio_size_off),
		};

		bpf_map_update_elem(&pio_out, &tid, &p, BPF_ANY);
		return 0;
	}
	bpf_map_delete_elem(&pio_out, &tid);
	if (!bpf_map_lookup_elem(&pending_in, &tid))
		return 0;
	struct uexit_key key = {
		.pid = pid,
		.tid = tid,
		.reason = KVM_EXIT_IO,
		.port = tp_u32(ctx, pio_port_off),
		.size = tp_u32(ctx, pio_size_off),
		.dir = DIR_IN,
	};
	bpf_map_delete_elem(&pending_in, &tid);
	count_uexit(&key);
	return 0;
}
