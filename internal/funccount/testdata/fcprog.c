// SPDX-License-Identifier: GPL-2.0
/* fcprog: the child process of funccount's tests. It prints "ready", then
 * obeys one command per line on stdin and answers each with one line:
 *
 *	run N   calls fc_one N times, fc_two 2N times and fc_three 3N times;
 *	        each call fires its USDT probe funccount_test:one, :two or
 *	        :three, and fc_three also fires funccount_test:guarded where
 *	        its semaphore is set (by a tracer attached with the semaphore
 *	        as reference counter); then makes the getppid system call N
 *	        times, getpgid 2N times and getsid 3N times; answers "done N"
 *	exit    exits
 *
 * fc_zero is never called. All probes have semaphores (_SDT_HAS_SEMAPHORES
 * applies to the whole file); only :guarded is guarded by its own.
 */
#define _GNU_SOURCE
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SEMA(name) \
	unsigned short funccount_test_##name##_semaphore __attribute__((section(".probes"), used))
SEMA(one);
SEMA(two);
SEMA(three);
SEMA(guarded);

volatile long fc_sink;

__attribute__((noinline, used)) void fc_zero(long i)
{
	fc_sink += i;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, used)) void fc_one(long i)
{
	STAP_PROBE1(funccount_test, one, i);
	fc_sink += i;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, used)) void fc_two(long i)
{
	STAP_PROBE1(funccount_test, two, i);
	fc_sink += 2 * i;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline, used)) void fc_three(long i)
{
	STAP_PROBE1(funccount_test, three, i);
	if (funccount_test_guarded_semaphore)
		STAP_PROBE1(funccount_test, guarded, i);
	fc_sink += 3 * i;
	__asm__ volatile("" ::: "memory");
}

int main(void)
{
	char line[64];
	long n, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "run %ld", &n) == 1) {
			for (i = 0; i < n; i++)
				fc_one(i);
			for (i = 0; i < 2 * n; i++)
				fc_two(i);
			for (i = 0; i < 3 * n; i++)
				fc_three(i);
			for (i = 0; i < n; i++)
				syscall(SYS_getppid);
			for (i = 0; i < 2 * n; i++)
				syscall(SYS_getpgid, 0);
			for (i = 0; i < 3 * n; i++)
				syscall(SYS_getsid, 0);
			printf("done %ld\n", n);
		} else if (strncmp(line, "exit", 4) == 0) {
			break;
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
