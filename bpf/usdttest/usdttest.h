/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the test objects and (through bpf2go's types) pkg/usdt's and
 * pkg/uprobe's tests. */
#ifndef __USDTTEST_H
#define __USDTTEST_H

#define MAX_HITS 256
#define STR_LEN 64

/* The cookie bit that asks the USDT program to read argument 0 as a
 * string. */
#define COOKIE_STR 0x100

/* One probe hit, as usdt_arg and friends saw it. */
struct hit {
	__u64 cookie;
	__u64 ip;
	__s32 arg_cnt;
	__s32 err;
	__s64 args[12];
	__s64 str_ret;
	char str[STR_LEN];
};

/* What the uprobe program counts per cookie. */
struct calls {
	__u64 count;
	__u64 arg_sum;
	__u64 ret_sum;
};

#endif
