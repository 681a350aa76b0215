// SPDX-License-Identifier: GPL-2.0
// classic: the child process of trace's tests, doing what bcc's classic
// examples watch, a known number of times. It prints "ready", waits for a
// line on stdin, then for i = 1..N:
//   - calls readfile("file-i.txt") (vim's readfile, a uprobe example),
//   - fires the USDT probe trace_test:request("GET", "/page-i.html", i)
//     (node's http__server__request),
//   - writes i bytes to fd 77 (/dev/null) (a tracepoint with a filter),
//   - forks a child that exits at once (hello world on clone),
// then prints "done" and exits at the end of stdin (so that its mappings
// are there while trace symbolizes its stacks).
//
//	classic N
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/wait.h>
#include <unistd.h>

#define FD 77

static char buf[1 << 12];

__attribute__((noinline)) int readfile(const char *fname, int flags)
{
	int n = (int)strlen(fname);

	__asm__ volatile("" : : "r"(fname) : "memory");
	return n + flags;
}

int main(int argc, char **argv)
{
	char line[16], name[64], path[64];
	int n, i;

	if (argc != 2 || (n = atoi(argv[1])) < 0 || n > (int)sizeof(buf)) {
		fprintf(stderr, "usage: classic N (0 <= N <= %zu)\n", sizeof(buf));
		return 2;
	}
	if (dup2(open("/dev/null", O_WRONLY), FD) != FD) {
		perror("classic: dup2");
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (i = 1; i <= n; i++) {
		pid_t pid;

		snprintf(name, sizeof(name), "file-%d.txt", i);
		readfile(name, i);
		snprintf(path, sizeof(path), "/page-%d.html", i);
		STAP_PROBE3(trace_test, request, "GET", path, i);
		if (write(FD, buf, i) != i) {
			perror("classic: write");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("classic: fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
