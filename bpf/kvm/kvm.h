/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Records shared by the kvm BPF programs and the Go side. */
#ifndef __KVM_H
#define __KVM_H

#define TASK_COMM_LEN 16
#define MAX_TIDS 64
#define MAX_REASONS 16

/* kvmexit: one count per thread and exit reason. */
struct exit_key {
	__u32 pid;
	__u32 tid;
	__u32 reason; /* raw exit_reason: VMX bit 31 (failed entry) kept */
	__u32 isa;    /* 1 VMX, 2 SVM */
};

/* Directions of an I/O exit to userspace. */
#define DIR_NONE 0
#define DIR_IN 1
#define DIR_OUT 2
#define DIR_UNKNOWN 3

/* kvmexit --userspace: one count per thread, exit to userspace and port. */
struct uexit_key {
	__u32 pid;
	__u32 tid;
	__u32 reason; /* kvm_run.exit_reason */
	__s32 err;    /* KVM_RUN's errno when negative (then reason is stale) */
	__u16 port;
	__u8 dir;
	__u8 size;
};

/* kvmexit -L: one bucket of the exit-to-entry time of a reason. */
struct lat_key {
	__u32 reason;
	__u32 isa;
	__u32 slot;
	__u32 pad;
};

/* Activity counters (index into the activity per-CPU array). */
#define ACT_EXIT 0
#define ACT_ENTRY 1
#define ACT_USERSPACE 2
#define ACT_NR 4

/* kvmtrace event types. */
#define EV_EXIT 1
#define EV_ENTRY 2
#define EV_HYPERCALL 3
#define EV_USERSPACE 4
#define EV_PIO 5

/* kvmtrace: one event. */
struct event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 vcpu; /* 0xffffffff: unknown */
	__u32 type;
	__u32 reason; /* exit: exit_reason; userspace: kvm_run.exit_reason; pio: port */
	__u32 isa;    /* exit: isa; userspace: errno; pio: 1 out, 0 in */
	__u64 rip;    /* exit: guest_rip; entry: rip */
	__u64 args[5]; /* exit: info1, info2; hypercall: nr, a0-a3; pio: size, count */
	char comm[TASK_COMM_LEN];
};

#endif
