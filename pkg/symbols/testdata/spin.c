// SPDX-License-Identifier: GPL-2.0
/* spin: a test program for pkg/symbols, without libc so that it runs in
 * the VM test's initramfs too. build.sh links it as spin-pie (static PIE,
 * ET_DYN) and spin-nopie (static, ET_EXEC). It waits in pause(2), called
 * from spin_wait, until a signal kills it.
 */

static long sys0(long nr)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

/* spin_wait is the function whose address the tests resolve. */
__attribute__((noinline)) void spin_wait(void)
{
	sys0(34); /* pause */
}

void _start(void)
{
	for (;;)
		spin_wait();
}
