// SPDX-License-Identifier: GPL-2.0
/* libsdtlib.so: a shared library with a semaphore-guarded USDT probe,
 * sdtlib:sema(i, i * 3), for the tests of probes in shared libraries. */
#define SEMA_PROVIDER sdtlib
#define fire_sema sdtlib_fire_sema
#include "sema.c"

unsigned short sdtlib_semaphore_value(void)
{
	return sdtlib_sema_semaphore;
}
