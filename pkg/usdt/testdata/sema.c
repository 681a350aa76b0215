// SPDX-License-Identifier: GPL-2.0
/* The semaphore-guarded probe of sdtprobe (and of libsdtlib.so): compiled
 * with _SDT_HAS_SEMAPHORES, so that the probe note names the address of
 * PROVIDER_NAME_semaphore, which the kernel increments while a uprobe with
 * a reference counter is attached. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#ifndef SEMA_PROVIDER
#define SEMA_PROVIDER sdttest
#endif
#define CAT3(a, b, c) a##b##c
#define SEMA_NAME(p) CAT3(p, _sema, _semaphore)
#define SEMAPHORE SEMA_NAME(SEMA_PROVIDER)

__extension__ unsigned short SEMAPHORE __attribute__((unused)) __attribute__((section(".probes")));

/* fire_sema fires PROVIDER:sema(i, i * 3) if a tracer enabled it and says
 * whether it did. */
__attribute__((noinline)) int fire_sema(int i)
{
	if (!SEMAPHORE)
		return 0;
	STAP_PROBE2(SEMA_PROVIDER, sema, i, (long long)i * 3);
	return 1;
}
