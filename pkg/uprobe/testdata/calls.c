// SPDX-License-Identifier: GPL-2.0
/* calls: a test program for pkg/uprobe. build.sh links it three ways:
 * calls (dynamic PIE: getppid is libc.so.6's), calls-nopie (dynamic,
 * non-PIE ET_EXEC) and calls-static (static non-PIE: glibc's getppid is in
 * the binary, found through .symtab; runs in the VM test's initramfs too).
 *
 * It prints "ready", then obeys one command per line on stdin:
 *
 *	call N    calls getppid() N times and calls_double(i) for i = 0..N-1
 *	exit      exits
 */
#include <stdio.h>
#include <unistd.h>

/* calls_double is the function the tests put a uprobe and a uretprobe on:
 * its argument and return value are known. */
__attribute__((noinline)) long calls_double(long i)
{
	__asm__ volatile("" : "+r"(i));
	return i * 2 + 1;
}

int main(void)
{
	char line[128];
	long sum = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0, i;

		if (sscanf(line, "call %d", &n) == 1) {
			for (i = 0; i < n; i++) {
				getppid();
				sum += calls_double(i);
			}
			printf("call %d sum %ld\n", n, sum);
		} else if (line[0] == 'e') {
			break;
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
