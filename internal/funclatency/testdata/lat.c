// SPDX-License-Identifier: GPL-2.0
// lat: the child process of funclatency's tests. It prints "ready", then
// runs one command per line of stdin and answers "done" followed by the
// duration in nanoseconds (CLOCK_MONOTONIC, bpf_ktime_get_ns's clock) of
// each call it made, as measured around the call by its caller (so at least
// what a probe inside measures), and at least as long as asked:
//
//	sleep N NS     N calls of lat_sleep(NS): each sleeps NS nanoseconds
//	other N NS     N calls of lat_other(NS): the same, another function
//	recurse D NS   one call of lat_recurse(D, NS): D nested calls, the
//	               innermost sleeping NS, each outer one as long as the
//	               calls inside it, so level k from the inside takes
//	               2^(k-1) NS; durations are printed outermost first
//	quit           exit
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXDEPTH 32

static long long depth_ns[MAXDEPTH + 1];

static long long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void nap(long long ns)
{
	long long end = now() + ns;
	struct timespec ts;

	/* Sleep at least ns, even if a signal interrupts the sleep. */
	for (long long left = ns; left > 0; left = end - now()) {
		ts.tv_sec = left / 1000000000LL;
		ts.tv_nsec = left % 1000000000LL;
		nanosleep(&ts, NULL);
	}
}

__attribute__((noinline)) void lat_sleep(long long ns)
{
	nap(ns);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void lat_other(long long ns)
{
	nap(ns);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void lat_recurse(int d, long long ns)
{
	long long start;

	if (d <= 1) {
		nap(ns);
	} else {
		nap(ns << (d - 2));
		start = now();
		lat_recurse(d - 1, ns);
		depth_ns[d - 1] = now() - start;
	}
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	char line[128], cmd[16];
	long long n, ns;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "%15s %lld %lld", cmd, &n, &ns) != 3) {
			if (strncmp(line, "quit", 4) == 0)
				return 0;
			fprintf(stderr, "lat: bad command %s", line);
			return 2;
		}
		printf("done");
		if (strcmp(cmd, "recurse") == 0 && n >= 1 && n <= MAXDEPTH) {
			long long start = now();

			lat_recurse(n, ns);
			depth_ns[n] = now() - start;
			for (int d = n; d >= 1; d--)
				printf(" %lld", depth_ns[d]);
		} else if (strcmp(cmd, "sleep") == 0 || strcmp(cmd, "other") == 0) {
			void (*fn)(long long) = cmd[0] == 's' ? lat_sleep : lat_other;

			for (long long i = 0; i < n; i++) {
				long long start = now();

				fn(ns);
				printf(" %lld", now() - start);
			}
		} else {
			fprintf(stderr, "lat: bad command %s", line);
			return 2;
		}
		printf("\n");
	}
	return 0;
}
