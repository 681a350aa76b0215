/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by the cpudist backends and their Go reader. */
#ifndef __CPUDIST_H
#define __CPUDIST_H

#define TASK_COMM_LEN 16
/* Log2 slots kept per histogram: slot 47 holds values from 2^46, i.e. 2.2
 * years in microseconds; larger values are counted there too. */
#define MAX_SLOTS 48

/* One histogram: the whole system's (key 0 of hist_cpu, one copy per CPU)
 * or one process's or thread's (key = pid or tid in hists). */
struct hist {
	/* Sum of the spans, in nanoseconds, for -e and --json. First: it
	 * shares a cache line with the slots of spans up to 64 usecs. */
	__u64 total_ns;
	__u64 slots[MAX_SLOTS];
	/* The task's name when the histogram was created, for tasks gone by
	 * the time it is printed. */
	char comm[TASK_COMM_LEN];
};

#endif
