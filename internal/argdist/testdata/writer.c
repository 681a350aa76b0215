// SPDX-License-Identifier: GPL-2.0
// writer: the child process of argdist's tests. It prints "ready FD" once it
// has FD (/dev/null, duplicated to a distinctive number) open, waits for a
// line on stdin, then calls libc's write(FD, buf, i) for i = 1..N, each
// call next to a USDT probe argdist_test:wrote(fd, size, label), and exits.
//
//	writer N
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>

#define FD 77

static char buf[1 << 16];

int main(int argc, char **argv)
{
	char line[16];
	int n, i;

	if (argc != 2 || (n = atoi(argv[1])) < 0 || n > (int)sizeof(buf)) {
		fprintf(stderr, "usage: writer N (0 <= N <= %zu)\n", sizeof(buf));
		return 2;
	}
	if (dup2(open("/dev/null", O_WRONLY), FD) != FD) {
		perror("writer: dup2");
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	printf("ready %d\n", FD);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (i = 1; i <= n; i++) {
		const char *label = i % 2 ? "odd" : "even";

		STAP_PROBE3(argdist_test, wrote, FD, (long)i, label);
		if (write(FD, buf, i) != i) {
			perror("writer: write");
			return 1;
		}
	}
	return 0;
}
