/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Log2 bucketing shared by the histogram tools, as bcc's bpf_log2l: slot 1
 * holds 0 and 1, slot k > 1 holds [2^(k-1), 2^k - 1], slot 0 stays empty.
 * pkg/histogram prints the same layout (its "0 -> 1" row is slot 1). */
#ifndef __BPFSCOPE_BITS_BPF_H
#define __BPFSCOPE_BITS_BPF_H

static __always_inline __u64 log2_u32(__u32 v)
{
	__u32 shift, r;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* log2_u64 returns floor(log2(v)) for v > 0 and 0 for v == 0. */
static __always_inline __u64 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	if (hi)
		return log2_u32(hi) + 32;
	return log2_u32(v);
}

/* log2_slot returns the histogram slot of v, as bcc's bpf_log2l. */
static __always_inline __u64 log2_slot(__u64 v)
{
	return log2_u64(v) + 1;
}

#endif
