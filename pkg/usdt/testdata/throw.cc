// SPDX-License-Identifier: GPL-2.0
/* throw: a C++ test program for pkg/usdt that makes libstdc++ fire its own
 * USDT probe libstdcxx:throw(object, typeinfo). It prints "ready", then
 * obeys one command per line on stdin:
 *
 *	throw N   throws and catches the ints 0..N-1 and answers
 *	          "typeinfo ADDR obj ADDR0 ... obj ADDRN-1": &typeid(int) and
 *	          the address of each exception object
 */
#include <cstdio>
#include <cstring>
#include <typeinfo>

int main()
{
	char line[128];

	setvbuf(stdout, nullptr, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0;

		if (sscanf(line, "throw %d", &n) != 1) {
			printf("unknown command\n");
			continue;
		}
		printf("typeinfo %p", (const void *)&typeid(int));
		for (int i = 0; i < n; i++) {
			try {
				throw i;
			} catch (int &e) {
				printf(" obj %p", (void *)&e);
			}
		}
		printf("\n");
	}
	return 0;
}
