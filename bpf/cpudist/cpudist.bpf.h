/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the cpudist backends share: each hook only finds out who leaves the
 * CPU (prev), who takes it (next) and in whose context it runs, then calls
 * handle_switch().
 *
 * Which spans count (see docs/cpudist.md):
 *  - on-CPU (default): from a thread's switch-in to its switch-out, for
 *    every switch-out, voluntary or not (bcc's cpudist.py since 2021); with
 *    targ_involuntary only spans ended while the task was still runnable
 *    (preempted), as libbpf-tools' cpudist does;
 *  - off-CPU (targ_offcpu): from a thread's switch-out to its next
 *    switch-in, whatever the reason (sleep, I/O, preemption: run queue time
 *    included).
 * The idle tasks (pid 0, one per CPU) are left out unless targ_idle.
 *
 * Three ways to measure a span:
 *  - slices, for on-CPU spans without -I where the hook has prev's and
 *    next's task_struct and runs as prev (tp_btf, raw_tp): the scheduler
 *    keeps, per task, its total runtime (se.sum_exec_runtime, up to date
 *    when the task switches out) and, for the fair class, that total when
 *    it was last picked to run (se.prev_sum_exec_runtime, set at its
 *    switch-in): a span is their difference at the switch-out, with no map
 *    but the histogram's and no clock read. Tasks of the RT and deadline
 *    classes (prio below MAX_RT_PRIO) have no such start: they get a slot
 *    in the `start` array at their switch-in, with their total and the
 *    number of switches they will have made at their switch-out, which
 *    tells a slot from an earlier span or an earlier thread with the same
 *    id. A task that was fair at its switch-in and is not at its switch-out
 *    (priority inheritance) finds no such slot and falls back on the fair
 *    start, which its class change left alone. Whatever makes the kernel
 *    restart the slice of a running fair task (a change of its nice value,
 *    class, affinity or cgroup) restarts its span: it is counted from
 *    there. Not with a sched_ext scheduler loaded (its tasks have no fair
 *    start): the tool then sets slices_unreliable and the runtime way
 *    below is used.
 *  - runtime, for on-CPU spans without -I on the other hooks: a span is the
 *    growth of se.sum_exec_runtime since the thread's previous switch-out,
 *    which is what it was at its switch-in. The slot holds that sum and the
 *    task's address, its identity: a thread id reused by a new task starts
 *    afresh. The classic tracepoint, which has no pointer to next, starts
 *    tracking a thread with a timestamp at its switch-in (its first span is
 *    timed).
 *  With both, no clock is read; the time is the kernel's own accounting,
 *  what /proc/PID/schedstat reports.
 *  - timestamps (bcc's way), for off-CPU spans and with -I (the kernel keeps
 *    no runtime for the idle tasks): a bpf_ktime_get_ns() stored at the
 *    start of a span and subtracted at its end. A start is zeroed when its
 *    span ends, counted or not, so it never pairs with a later span; a
 *    thread that exits stores no off-CPU start, so a new one reusing its id
 *    finds none.
 *
 * Filters: targ_tgid (-p) and the cgroup (-c) are checked on the task whose
 * span ends when the hook knows it, else on the task whose span starts; the
 * other end then only finds a start if the first one passed. The cgroup
 * check can only look at the current task (bpf_current_task_under_cgroup):
 * prev at sched_switch, next at finish_task_switch, where the verdict is
 * kept in the slot until the span ends. With slices, both filters are
 * checked on prev at its switch-out (and the -p filter on next before it
 * gets a slot).
 *
 * Cost per context switch, system-wide on-CPU with tp_btf: a few loads
 * from the two task_structs, a branch-free log2 of the span divided down by
 * a multiplication (bits.bpf.h) and a per-CPU array update (inlined by the
 * verifier); no helper call, no clock read. See docs/cpudist.md. */
#ifndef __CPUDIST_BPF_H
#define __CPUDIST_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bits.bpf.h"
#include "cpudist.h"

/* What the including backend provides:
 *  HOOK_KNOWS_NEXT    1 if it has next's task_struct (not the tracepoint)
 *  HOOK_RUNS_AS_NEXT  1 if it runs after the switch, as next (kprobe)
 *  TASK_READ(t, f)    reads field f of task t (direct loads for tp_btf) */
#ifndef HOOK_KNOWS_NEXT
#define HOOK_KNOWS_NEXT 1
#endif
#ifndef HOOK_RUNS_AS_NEXT
#define HOOK_RUNS_AS_NEXT 0
#endif
#ifndef TASK_READ
#define TASK_READ(t, f) BPF_CORE_READ(t, f)
#endif

#define TASK_RUNNING 0

const volatile bool targ_offcpu = false;
const volatile bool targ_ms = false;
const volatile bool targ_per_process = false;
const volatile bool targ_per_thread = false;
const volatile bool targ_idle = false;
const volatile bool targ_involuntary = false;
const volatile __u32 targ_tgid = 0;
const volatile bool filter_cg = false;
/* The slot of the idle task of CPU n is idle_base + n; set to pid_max. */
const volatile __u32 idle_base = 32768;

/* A sched_ext scheduler is loaded: no slices (see above). */
const volatile bool slices_unreliable = false;

/* The tunables record() and the slice path look at, as a value: the tool's
 * (KNOBS, from the globals above) or, for the default report, none set
 * (DEFAULT_KNOBS, compiled in: the program then reads no global at all on
 * its way, one cache line less per context switch). */
struct knobs {
	bool ms;
	bool per_process;
	bool per_thread;
	bool filter_cg;
	__u32 tgid;
};

#define KNOBS ((struct knobs){ \
	.ms = targ_ms, \
	.per_process = targ_per_process, \
	.per_thread = targ_per_thread, \
	.filter_cg = filter_cg, \
	.tgid = targ_tgid, \
})
#define DEFAULT_KNOBS ((struct knobs){})

/* Spans are measured from the kernel's runtime accounting (see above). */
#define USE_RUNTIME (!targ_offcpu && !targ_idle)
/* ... from its slices, by slice_switch(). */
#define USE_SLICES (USE_RUNTIME && HOOK_KNOWS_NEXT && !HOOK_RUNS_AS_NEXT && !slices_unreliable)

/* Low bits of a runtime slot's aux, below the task's address (task_structs
 * are cache line aligned). */
#define SLOT_CG_OK 1ULL /* next was under the cgroup at its switch-in */
#define SLOT_BOOT  2ULL /* val is the ktime of a switch-in; no identity yet */
#define SLOT_FLAGS 7ULL

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_map SEC(".maps");

/* One slot per thread. With slices (RT and deadline tasks only): the
 * thread's se.sum_exec_runtime at its switch-in and its switch count
 * (nvcsw + nivcsw) at its switch-out to come. With runtime: its
 * se.sum_exec_runtime at its last switch-out and its identity (and SLOT_
 * flags). With timestamps:
 * the start of its span (0: none) and, for the classic tracepoint, its
 * process. */
struct start {
	__u64 val;
	__u64 aux;
};

/* An array, for lookups the verifier inlines: pid_max slots for the thread
 * ids (a tid at or above idle_base, if pid_max grew since we started, is not
 * tracked) and one per CPU. Sized by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct start);
} start SEC(".maps");

/* The system-wide histogram, one copy per CPU: no atomics, no shared cache
 * line on the context switch path. It is never cleared: the reader reports
 * the difference between two reads, so nothing is lost in between. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hist_cpu SEC(".maps");

/* Histograms per process (-P) or thread (-L), cleared by the reader. Sized
 * by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

/* Spans lost because hists was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hist_drops SEC(".maps");

static struct hist zero_hist;

/* Force BTF for the Go side. */
const struct hist *unused_hist __attribute__((unused));

/* One context switch, as a backend sees it. */
struct switch_info {
	struct task_struct *prev;
	struct task_struct *next; /* NULL if !HOOK_KNOWS_NEXT */
	__u32 prev_tid;
	__u32 prev_tgid;
	__u32 next_tid;
	__u32 next_tgid; /* 0 if !HOOK_KNOWS_NEXT */
	/* prev was still runnable: an involuntary switch (targ_involuntary). */
	bool involuntary;
	/* prev is exiting: its off-CPU span would never end (targ_offcpu). */
	bool prev_exiting;
};

static __always_inline struct start *slot(__u32 tid)
{
	__u32 key = tid;

	if (!tid)
		key = idle_base + bpf_get_smp_processor_id();
	else if (tid >= idle_base)
		return 0;
	return bpf_map_lookup_elem(&start, &key);
}

static __always_inline bool task_wanted(__u32 tid, __u32 tgid, bool tgid_known)
{
	if (!tid)
		return targ_idle && !targ_tgid;
	return !targ_tgid || !tgid_known || tgid == targ_tgid;
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hist_drops, &zero);

	if (n)
		(*n)++;
}

/* record_k adds a span of delta ns to the histogram of (tid, tgid). It
 * returns the histogram if it was created just now, for the caller to name
 * it. */
static __always_inline struct hist *record_k(struct knobs k, __u32 tid, __u32 tgid, __u64 delta)
{
	__u64 v = k.ms ? ns_to_ms(delta) : ns_to_us(delta);
	__u64 slot = log2_slot(v);
	struct hist *h;
	__u32 id;

	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;

	if (!k.per_process && !k.per_thread) {
		id = 0;
		h = bpf_map_lookup_elem(&hist_cpu, &id);
		if (!h)
			return 0;
		h->slots[slot]++;
		h->total_ns += delta;
		return 0;
	}

	id = k.per_thread ? tid : tgid;
	h = bpf_map_lookup_elem(&hists, &id);
	if (h) {
		__sync_fetch_and_add(&h->slots[slot], 1);
		__sync_fetch_and_add(&h->total_ns, delta);
		return 0;
	}
	bpf_map_update_elem(&hists, &id, &zero_hist, BPF_NOEXIST);
	h = bpf_map_lookup_elem(&hists, &id);
	if (!h) {
		count_drop();
		return 0;
	}
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->total_ns, delta);
	return h;
}

static __always_inline struct hist *record(__u32 tid, __u32 tgid, __u64 delta)
{
	return record_k(KNOBS, tid, tgid, delta);
}

/* ---- runtime ---- */

/* task_identity tells a task from an earlier one with the same thread id:
 * its address. A new task would need both the thread id and the memory of a
 * dead one, thread ids being handed out cyclically; a non-leader thread that
 * execs takes over the leader's thread id, not its address. */
static __always_inline __u64 task_identity(struct task_struct *t)
{
	return (__u64)(unsigned long)t;
}

/* runtime_in makes sure next's slot tracks it from this switch-in. The
 * classic tracepoint (next == NULL) can only tell an unused slot. */
static __always_inline void runtime_in(struct task_struct *next, __u32 tid, bool cg)
{
	struct start *sp = slot(tid);
	__u64 id, flag;

	if (!sp)
		return;
	if (!HOOK_KNOWS_NEXT) {
		if (!sp->aux) {
			sp->val = bpf_ktime_get_ns();
			sp->aux = SLOT_BOOT;
		}
		return;
	}
	id = task_identity(next);
	flag = HOOK_RUNS_AS_NEXT && filter_cg && cg ? SLOT_CG_OK : 0;
	if ((sp->aux & ~SLOT_FLAGS) != id)
		sp->val = TASK_READ(next, se.sum_exec_runtime); /* a new thread */
	else if ((sp->aux & SLOT_FLAGS) == flag)
		return; /* its sum is where its last switch-out left it */
	/* Plain id for hooks without flags: no arithmetic on a trusted
	 * pointer for the verifier. */
	sp->aux = HOOK_RUNS_AS_NEXT ? id | flag : id;
}

/* runtime_out ends prev's on-CPU span; it counts if count (and, at
 * finish_task_switch with -c, if prev was under the cgroup at its
 * switch-in). */
static __always_inline struct hist *runtime_out(struct task_struct *prev, __u32 tid, __u32 tgid, bool count)
{
	struct start *sp = slot(tid);
	__u64 id, sum, aux, delta;

	if (!sp)
		return 0;
	id = task_identity(prev);
	sum = TASK_READ(prev, se.sum_exec_runtime);
	aux = sp->aux;
	if ((aux & ~SLOT_FLAGS) == id) {
		delta = sum - sp->val;
		if (sum < sp->val)
			count = false;
	} else if (!HOOK_KNOWS_NEXT && aux == SLOT_BOOT) {
		/* First span of a thread the tracepoint saw switch in. */
		__u64 ts = bpf_ktime_get_ns();

		delta = ts > sp->val ? ts - sp->val : 0;
	} else {
		count = false;
		delta = 0;
	}
	if (HOOK_RUNS_AS_NEXT && filter_cg && !(aux & SLOT_CG_OK))
		count = false;
	sp->val = sum;
	sp->aux = id;
	if (!count)
		return 0;
	return record(tid, tgid, delta);
}

/* ---- timestamps ---- */

static __always_inline void store_start(__u32 tid, __u32 tgid, __u64 ts)
{
	struct start *sp = slot(tid);

	if (!sp)
		return;
	sp->val = ts;
	sp->aux = tgid;
}

/* end_span ends tid's span at ts and forgets its start; it counts if count.
 * tgid is used if known, else the one stored with the start. */
static __always_inline struct hist *end_span(__u32 tid, __u32 tgid, bool tgid_known, __u64 ts, bool count)
{
	struct start *sp = slot(tid);
	__u64 t0;

	if (!sp)
		return 0;
	t0 = sp->val;
	if (!t0)
		return 0;
	sp->val = 0;
	if (!tgid_known)
		tgid = sp->aux;
	if (!count)
		return 0;
	/* A thread switched out on one CPU and straight in on another can
	 * see the clock a few ns behind (TSCs of virtual CPUs are not quite
	 * in step): a span of 0, not a lost one (bcc drops it). */
	return record(tid, tgid, ts > t0 ? ts - t0 : 0);
}

/* ---- slices ---- */

/* Priorities below this are the RT and deadline classes'. */
#define MAX_RT_PRIO 100
/* task_struct::flags of the idle tasks (and of idle injection threads
 * while they inject idle time). */
#define PF_IDLE 0x00000002

/* switch_count is how many times t has switched out. The kernel counts a
 * switch before the hook runs: at its switch-out a task has one more than
 * at its switch-in. */
static __always_inline __u64 switch_count(struct task_struct *t)
{
	return TASK_READ(t, nvcsw) + TASK_READ(t, nivcsw);
}

/* slice_in gives next a slot if it is not in the fair class. */
static __always_inline void slice_in(struct knobs k, struct task_struct *next)
{
	struct start *sp;
	__u32 tid;

	if (TASK_READ(next, prio) >= MAX_RT_PRIO)
		return;
	tid = TASK_READ(next, pid);
	if (k.tgid && TASK_READ(next, tgid) != k.tgid)
		return;
	sp = slot(tid);
	if (!sp)
		return;
	sp->val = TASK_READ(next, se.sum_exec_runtime);
	sp->aux = switch_count(next) + 1;
}

/* slice_switch accounts one context switch with slices, as k says; count
 * tells whether prev's span counts (--involuntary). It returns a histogram
 * that was just created, for prev. The filters come first: a task of
 * another process or cgroup costs no map access. */
static __always_inline struct hist *slice_switch(struct knobs k, struct task_struct *prev, struct task_struct *next, bool count)
{
	__u32 tid = 0, tgid = 0;
	__u64 sum, start;
	struct start *sp;

	slice_in(k, next);
	/* The idle tasks by their flag, not their pid 0: the flags share a
	 * cache line with the task's state, which the scheduler has just
	 * written; the pid is on a line the switch does not touch. */
	if (!count || (TASK_READ(prev, flags) & PF_IDLE))
		return 0;
	if (k.tgid || k.per_process) {
		tgid = TASK_READ(prev, tgid);
		if (k.tgid && tgid != k.tgid)
			return 0;
	}
	/* 1: under the cgroup; 0: not; < 0: map not set (yet). */
	if (k.filter_cg && bpf_current_task_under_cgroup(&cgroup_map, 0) != 1)
		return 0;
	if (k.per_thread)
		tid = TASK_READ(prev, pid);
	sum = TASK_READ(prev, se.sum_exec_runtime);
	start = TASK_READ(prev, se.prev_sum_exec_runtime);
	if (TASK_READ(prev, prio) < MAX_RT_PRIO) {
		sp = slot(TASK_READ(prev, pid));
		if (sp && sp->aux == switch_count(prev)) {
			start = sp->val;
			sp->aux = 0;
		}
	}
	if (sum < start)
		return 0;
	return record_k(k, tid, tgid, sum - start);
}

/* handle_switch accounts one context switch. It returns a histogram that was
 * just created, and sets *for_next to tell whose (prev's or next's) name it
 * should get. */
static __always_inline struct hist *handle_switch(const struct switch_info *s, bool *for_next)
{
	bool cg_prev = true, cg_next = true, next_wanted, prev_wanted;
	__u64 ts;

	if (filter_cg) {
		/* 1: under the cgroup; 0: not; < 0: map not set (yet). */
		bool under = bpf_current_task_under_cgroup(&cgroup_map, 0) == 1;

		if (HOOK_RUNS_AS_NEXT)
			cg_next = under;
		else
			cg_prev = under;
	}
	prev_wanted = task_wanted(s->prev_tid, s->prev_tgid, true);
	next_wanted = task_wanted(s->next_tid, s->next_tgid, HOOK_KNOWS_NEXT);

	if (USE_RUNTIME) {
		*for_next = false;
		/* The cgroup may change: slots are kept for all tasks of the
		 * process(es) traced, counted or not. */
		if (next_wanted && s->next_tid)
			runtime_in(s->next, s->next_tid, cg_next);
		if (!prev_wanted || !s->prev_tid)
			return 0;
		return runtime_out(s->prev, s->prev_tid, s->prev_tgid,
				   cg_prev && (!targ_involuntary || s->involuntary));
	}

	ts = bpf_ktime_get_ns();
	if (!targ_offcpu) {
		*for_next = false;
		if (cg_next && next_wanted)
			store_start(s->next_tid, s->next_tgid, ts);
		return end_span(s->prev_tid, s->prev_tgid, true, ts,
				cg_prev && prev_wanted && (!targ_involuntary || s->involuntary));
	}

	*for_next = true;
	if (cg_prev && prev_wanted && !s->prev_exiting)
		store_start(s->prev_tid, s->prev_tgid, ts);
	return end_span(s->next_tid, s->next_tgid, HOOK_KNOWS_NEXT, ts, cg_next && next_wanted);
}

/* Task state across the rename of task_struct::state to __state (5.14). */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
	unsigned int __state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___x *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___o *)task, state);
}

/* name_task names a histogram after task: its process (group leader) with
 * -P, the thread itself with -L. */
static __always_inline void name_task(struct hist *h, struct task_struct *task)
{
	if (targ_per_process)
		BPF_CORE_READ_STR_INTO(&h->comm, task, group_leader, comm);
	else
		BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
}

#endif
