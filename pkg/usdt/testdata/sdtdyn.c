// SPDX-License-Identifier: GPL-2.0
/* sdtdyn: a dynamically linked PIE test program for pkg/usdt, linked to
 * libsdtlib.so (found through its RUNPATH, $ORIGIN). It has a probe of its
 * own, sdtdyn:main(n), and fires libsdtlib's semaphore-guarded sdtlib:sema.
 *
 * It prints "ready", then obeys one command per line on stdin:
 *
 *	main N    fires sdtdyn:main(N) once
 *	lib N     calls sdtlib_fire_sema(i) for i = 0..N-1, answers "lib N fired F"
 *	getsema   prints libsdtlib's semaphore as the program sees it
 *	exit      exits
 */
#include <stdio.h>
#include <string.h>
#include <sys/sdt.h>

extern int sdtlib_fire_sema(int i);
extern unsigned short sdtlib_semaphore_value(void);

int main(void)
{
	char line[128];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0, i, fired = 0;

		if (sscanf(line, "main %d", &n) == 1) {
			STAP_PROBE1(sdtdyn, main, n);
			printf("main %d\n", n);
		} else if (sscanf(line, "lib %d", &n) == 1) {
			for (i = 0; i < n; i++)
				fired += sdtlib_fire_sema(i);
			printf("lib %d fired %d\n", n, fired);
		} else if (strncmp(line, "getsema", 7) == 0) {
			printf("getsema %u\n", sdtlib_semaphore_value());
		} else if (strncmp(line, "exit", 4) == 0) {
			break;
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
