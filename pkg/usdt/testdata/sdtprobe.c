// SPDX-License-Identifier: GPL-2.0
/* sdtprobe: a test program for pkg/usdt, with USDT probes written with
 * systemtap's <sys/sdt.h>. build.sh compiles it at -O0 (non-PIE, arguments
 * mostly in stack memory: "-4@-20(%rbp)") and at -O2 (PIE, arguments in
 * registers and constants: "-4@%edi", "-4@$5"), statically linked so that the
 * binaries also run in the VM test's initramfs.
 *
 * It prints "ready", then obeys one command per line on stdin and answers
 * each with one line on stdout:
 *
 *	args N    fires sdttest:args N times (i = 0..N-1), see fire_args
 *	index N   fires sdttest:index N times: arr[i % 4] through (%reg,%reg,8)
 *	twice N   fires sdttest:twice N times from each of its two call sites
 *	regs      fires sdttest:regs once: hand-written sub-register operands
 *	sema N    fires sdttest:sema N times where its semaphore is set
 *	str       fires sdttest:str with a string on a page never touched before
 *	getsema   prints the semaphore of sdttest:sema as the program sees it
 *	exit      exits
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sdt.h>

/* Defined in sema.c, which is compiled with _SDT_HAS_SEMAPHORES. */
extern unsigned short sdttest_sema_semaphore;
extern int fire_sema(int i);

long sdt_counter = 1000;
long sdt_table[4] = {11, -22, 33, -44};

__attribute__((noinline)) void fire_args(int i)
{
	long big = (long)i * -1000000007L;
	unsigned char small = (unsigned char)(i + 200);
	short neg = (short)(-i - 1);

	STAP_PROBE6(sdttest, args, i, big, small, neg, 5, sdt_counter);
	sdt_counter += 3;
}

__attribute__((noinline)) void fire_index(long *arr, long i)
{
	STAP_PROBE2(sdttest, index, arr[i], i);
}

__attribute__((noinline)) void twice_a(int i)
{
	STAP_PROBE1(sdttest, twice, i);
}

__attribute__((noinline)) void twice_b(int i)
{
	STAP_PROBE1(sdttest, twice, i + 100);
}

/* Operands gcc seldom picks by itself, written by hand: sub-registers
 * (%ah, %al, %ax, %eax, %dl, %r9w), base+index*scale with and without a
 * displacement, a negative constant and a RIP-relative symbol. */
__attribute__((noinline)) void fire_regs(void)
{
	__asm__ volatile(
		"movabs $0x1122334455667788, %%rax\n\t"
		"lea sdt_table(%%rip), %%rbx\n\t"
		"mov $2, %%edx\n\t"
		"mov $0xfffe, %%r9d\n\t"
		STAP_PROBE_ASM(sdttest, regs, 1@%%ah -1@%%al 2@%%ax -4@%%eax 8@(%%rbx,%%rdx,8) -4@$-5 -8@8(%%rbx) -8@-8(%%rbx,%%rdx,8) 1@%%dl -2@%%r9w 8@sdt_table+24(%%rip))
		:
		:
		: "rax", "rbx", "rdx", "r9", "memory");
}

/* A string on a page the process has never touched: a plain read from a BPF
 * program faults there, a sleepable one can fault it in. */
int fire_str(void)
{
	static const char msg[] = "hello from a fresh page";
	int fd = memfd_create("sdtprobe", 0);
	char *p;

	if (fd < 0 || write(fd, msg, sizeof(msg)) != sizeof(msg))
		return -1;
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	STAP_PROBE2(sdttest, str, p, sizeof(msg) - 1);
	munmap(p, 4096);
	return 0;
}

int main(void)
{
	char line[128];
	long arr[4] = {7, -8, 9, -10};

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0, i, fired = 0;

		if (sscanf(line, "args %d", &n) == 1) {
			for (i = 0; i < n; i++)
				fire_args(i);
			printf("args %d\n", n);
		} else if (sscanf(line, "index %d", &n) == 1) {
			for (i = 0; i < n; i++)
				fire_index(arr, i % 4);
			printf("index %d\n", n);
		} else if (sscanf(line, "twice %d", &n) == 1) {
			for (i = 0; i < n; i++) {
				twice_a(i);
				twice_b(i);
			}
			printf("twice %d\n", n);
		} else if (sscanf(line, "sema %d", &n) == 1) {
			for (i = 0; i < n; i++)
				fired += fire_sema(i);
			printf("sema %d fired %d\n", n, fired);
		} else if (strncmp(line, "regs", 4) == 0) {
			fire_regs();
			printf("regs\n");
		} else if (strncmp(line, "str", 3) == 0) {
			printf("str %d\n", fire_str());
		} else if (strncmp(line, "getsema", 7) == 0) {
			printf("getsema %u\n", sdttest_sema_semaphore);
		} else if (strncmp(line, "exit", 4) == 0) {
			break;
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
