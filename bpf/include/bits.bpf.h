/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Arithmetic shared by the histogram tools, for hot paths (cpudist runs at
 * every context switch): no branches on the value, no division where a
 * multiplication does. bpf/bitstest runs each of these in the kernel
 * against its Go counterpart (pkg/histogram's tests).
 *
 * Log2 bucketing is bcc's bpf_log2l: slot 1 holds 0 and 1, slot k > 1 holds
 * [2^(k-1), 2^k - 1], slot 0 stays empty. pkg/histogram prints the same
 * layout (its "0 -> 1" row is slot 1). */
#ifndef __BPFSCOPE_BITS_BPF_H
#define __BPFSCOPE_BITS_BPF_H

/* bits_above returns 1 if v > mask, else 0, for v and mask below 2^32: the
 * sign bit of mask - v, which wraps when v is above. BPF has no setcc;
 * clang turns a comparison into a branch, mispredicted whenever the
 * values vary. */
static __always_inline __u64 bits_above(__u64 v, __u64 mask)
{
	return (mask - v) >> 63;
}

/* log2_u64 returns floor(log2(v)) for v > 0 and 0 for v == 0, without
 * branches: a binary search whose steps shift by 32, 16, 8, 4, 2 and 1. */
static __always_inline __u64 log2_u64(__u64 v)
{
	__u64 r, s;

	/* 1 if the high half is not zero: (v >> 32) + 0xFFFFFFFF carries
	 * into bit 32 then. */
	r = (((v >> 32) + 0xFFFFFFFFULL) >> 32) << 5;
	v >>= r;
	s = bits_above(v, 0xFFFF) << 4;
	v >>= s;
	r |= s;
	s = bits_above(v, 0xFF) << 3;
	v >>= s;
	r |= s;
	s = bits_above(v, 0xF) << 2;
	v >>= s;
	r |= s;
	s = bits_above(v, 0x3) << 1;
	v >>= s;
	r |= s;
	return r | (v >> 1);
}

/* log2_slot returns the histogram slot of v, as bcc's bpf_log2l. */
static __always_inline __u64 log2_slot(__u64 v)
{
	return log2_u64(v) + 1;
}

/* ns_to_us and ns_to_ms divide nanoseconds down, rounding down as bcc's
 * `delta / 1000`. Below 2^32 ns (4.3 s), the span of nearly every event,
 * they multiply and shift instead, as compilers do for a 32-bit division
 * by a constant: m = ceil(2^k / d) is exact for every 32-bit n when
 * n * (m * d - 2^k) < 2^k (d = 1000: k = 38, error 56; d = 10^6: k = 50,
 * error 157376), and n * m stays below 2^63. A 64-bit division costs tens
 * of cycles on many x86 CPUs. */
static __always_inline __u64 ns_to_us(__u64 ns)
{
	if (ns >> 32)
		return ns / 1000;
	return (ns * 274877907ULL) >> 38;
}

static __always_inline __u64 ns_to_ms(__u64 ns)
{
	if (ns >> 32)
		return ns / 1000000;
	return (ns * 1125899907ULL) >> 50;
}

#endif
