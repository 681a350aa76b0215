/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* USDT arguments for bpfscope's BPF programs, after libbpf's usdt.bpf.h but
 * for cilium/ebpf: the maps are ordinary (not __weak), whether the kernel
 * has BPF cookies is a `const volatile` set before load (not a __kconfig),
 * and the helpers are static inline.
 *
 * pkg/usdt attaches a program to every call site of a probe, one uprobe per
 * site, and gives each site a spec id: the index of its argument spec in
 * usdt_specs, passed as the BPF cookie (kernel 5.15+), or, on older
 * kernels, found by the probe's address in usdt_ip_to_spec. A program calls
 * usdt_arg(ctx, n, &val) for argument n (0-based) whatever its location at
 * that site: a register ("-4@%edi", "1@%ah"), memory ("8@-16(%rbp)",
 * "8@(%rax,%rdx,8)", "8@counter(%rip)") or a constant ("-4@$5").
 *
 *	SEC("usdt")
 *	int handle(struct pt_regs *ctx)
 *	{
 *		long fd;
 *
 *		if (usdt_arg(ctx, 0, &fd))
 *			return 0;
 *		...
 *	}
 *
 * Strings: usdt_read_user_str() below. In a sleepable program (section
 * "usdt.s", compiled with -DBPFSCOPE_SLEEPABLE) it faults in a page the
 * traced process has not touched yet, so that strings read right on the
 * first call; elsewhere such a read fails with -EFAULT (-14). */
#ifndef __BPFSCOPE_USDT_BPF_H
#define __BPFSCOPE_USDT_BPF_H

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Distinct argument specs per object (sites with equal specs share one). */
#ifndef USDT_MAX_SPECS
#define USDT_MAX_SPECS 256
#endif
/* Sites per object on kernels without BPF cookies. */
#ifndef USDT_MAX_IPS
#define USDT_MAX_IPS 1024
#endif
/* sys/sdt.h allows 12 arguments. */
#define USDT_MAX_ARGS 12

#define USDT_EFAULT 14
#define USDT_ENOENT 2
#define USDT_ESRCH 3
#define USDT_EINVAL 22

/* Kept in sync with pkg/usdt/spec.go. */
enum usdt_arg_type {
	USDT_ARG_CONST = 0,	/* val_off is the value */
	USDT_ARG_REG = 1,	/* a register, shifted right by reg_shift */
	USDT_ARG_DEREF = 2,	/* memory at base + index << scale_shift + val_off */
};

struct usdt_arg_spec {
	/* The constant, or the memory operand's displacement. */
	__u64 val_off;
	/* enum usdt_arg_type */
	__u32 arg_type;
	/* offsetof(struct pt_regs, reg) of the register or the base register
	 * (ip for RIP-relative operands), -1 for none. */
	__s16 reg_off;
	/* offsetof(struct pt_regs, reg) of the index register, -1 for none. */
	__s16 idx_reg_off;
	/* log2 of the index scale (1, 2, 4, 8). */
	__u8 scale_shift;
	/* 8 for %ah, %bh, %ch, %dh; else 0. */
	__u8 reg_shift;
	/* Sign-extend (the argument's size is negative in the note). */
	__u8 arg_signed;
	/* 64 - 8 * size: the bits to clear, or sign-fill, above the value. */
	__u8 arg_bitshift;
	__u32 __pad;
};

struct usdt_spec {
	struct usdt_arg_spec args[USDT_MAX_ARGS];
	/* The caller's cookie for the probe (usdt.AttachOptions.Cookie). */
	__u64 cookie;
	__s16 arg_cnt;
	__s16 __pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, USDT_MAX_SPECS);
	__type(key, __u32);
	__type(value, struct usdt_spec);
} usdt_specs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, USDT_MAX_IPS);
	__type(key, __u64);
	__type(value, __u32);
} usdt_ip_to_spec SEC(".maps");

/* Set by pkg/usdt (usdt.Constants) before load: true where the kernel has
 * no bpf_get_attach_cookie. The verifier drops the branch not taken, so the
 * helper is never seen by kernels that lack it. */
const volatile bool usdt_ip_lookup = false;

/* usdt_spec_id returns the spec id of the call site that fired, or a
 * negative error. */
static __always_inline int usdt_spec_id(struct pt_regs *ctx)
{
	if (usdt_ip_lookup) {
		__u64 ip = PT_REGS_IP(ctx);
		__u32 *id = bpf_map_lookup_elem(&usdt_ip_to_spec, &ip);

		return id ? (int)*id : -USDT_ESRCH;
	}
	return (int)bpf_get_attach_cookie(ctx);
}

static __always_inline struct usdt_spec *usdt_spec(struct pt_regs *ctx)
{
	int id = usdt_spec_id(ctx);
	__u32 key;

	if (id < 0)
		return 0;
	key = id;
	return bpf_map_lookup_elem(&usdt_specs, &key);
}

/* usdt_arg_cnt returns the number of arguments of the probe that fired, or
 * a negative error. */
static __always_inline int usdt_arg_cnt(struct pt_regs *ctx)
{
	struct usdt_spec *spec = usdt_spec(ctx);

	return spec ? spec->arg_cnt : -USDT_ESRCH;
}

/* usdt_cookie returns the cookie the probe was attached with (to tell
 * probes apart when one program serves several); 0 if none. */
static __always_inline __u64 usdt_cookie(struct pt_regs *ctx)
{
	struct usdt_spec *spec = usdt_spec(ctx);

	return spec ? spec->cookie : 0;
}

/* usdt_reg reads the register at offset off of struct pt_regs. The offset
 * is not known to the verifier, hence the read through a helper. */
static __always_inline long usdt_reg(struct pt_regs *ctx, __s16 off, __u64 *val)
{
	if (off < 0 || off > (__s16)(sizeof(struct pt_regs) - sizeof(__u64)))
		return -USDT_EINVAL;
	return bpf_probe_read_kernel(val, sizeof(*val), (void *)ctx + off);
}

/* usdt_arg stores argument n (0-based) of the probe that fired in *res,
 * sign- or zero-extended to 64 bits, and returns 0; or returns a negative
 * error and stores 0: -ENOENT for n beyond the probe's arguments, -ESRCH
 * for a site pkg/usdt did not attach, -EFAULT for unreadable memory. */
static __always_inline int usdt_arg(struct pt_regs *ctx, __u64 n, long *res)
{
	struct usdt_spec *spec;
	struct usdt_arg_spec *arg;
	__u64 val, idx, addr;
	__u32 size;
	long err;

	*res = 0;
	spec = usdt_spec(ctx);
	if (!spec)
		return -USDT_ESRCH;
	if (n >= USDT_MAX_ARGS || n >= (__u64)spec->arg_cnt)
		return -USDT_ENOENT;
	arg = &spec->args[n];

	switch (arg->arg_type) {
	case USDT_ARG_CONST:
		val = arg->val_off;
		break;
	case USDT_ARG_REG:
		err = usdt_reg(ctx, arg->reg_off, &val);
		if (err)
			return err;
		val >>= arg->reg_shift & 63;
		break;
	case USDT_ARG_DEREF:
		addr = arg->val_off;
		if (arg->reg_off >= 0) {
			err = usdt_reg(ctx, arg->reg_off, &val);
			if (err)
				return err;
			addr += val;
		}
		if (arg->idx_reg_off >= 0) {
			err = usdt_reg(ctx, arg->idx_reg_off, &idx);
			if (err)
				return err;
			addr += idx << (arg->scale_shift & 3);
		}
		/* Read the argument's size only, not 8 bytes that might
		 * cross into an unmapped page. */
		size = (64 - (arg->arg_bitshift & 63)) >> 3;
		if (size == 0 || size > 8)
			size = 8;
		val = 0;
		err = bpf_probe_read_user(&val, size, (void *)addr);
		if (err)
			return err;
		break;
	default:
		return -USDT_EINVAL;
	}

	/* Keep the argument's size: clear the bits above it, or fill them
	 * with its sign. */
	val <<= arg->arg_bitshift & 63;
	if (arg->arg_signed)
		val = (__u64)((__s64)val >> (arg->arg_bitshift & 63));
	else
		val >>= arg->arg_bitshift & 63;
	*res = val;
	return 0;
}

/* usdt_read_user_str copies the NUL-terminated string at user address src
 * into dst (at most size bytes with the NUL), as bpf_probe_read_user_str:
 * it returns the length with the NUL, or a negative error. A plain BPF
 * program cannot take page faults, so a string on a page the process has
 * not touched yet (a fresh mmap, a string in a data page never read) fails
 * with -EFAULT. Compiled with BPFSCOPE_SLEEPABLE, for a sleepable program
 * ("usdt.s", "uprobe.s"), it then faults the page in with
 * bpf_copy_from_user and reads again, for up to two pages. */
static __always_inline long usdt_read_user_str(void *dst, __u32 size, const void *src)
{
	long n = bpf_probe_read_user_str(dst, size, src);
#ifdef BPFSCOPE_SLEEPABLE
	char c;
	int i;

	for (i = 0; i < 2 && n == -USDT_EFAULT; i++) {
		/* The first page, then the one after it. */
		const char *p = i == 0 ? src : (const char *)(((unsigned long)src | 4095) + 1);

		if (bpf_copy_from_user(&c, 1, p))
			break;
		n = bpf_probe_read_user_str(dst, size, src);
	}
#endif
	return n;
}

/* BPF_USDT is BPF_PROG for USDT programs: the probe's arguments as named
 * parameters, read with usdt_arg (0 where missing).
 *
 *	SEC("usdt")
 *	int BPF_USDT(handle, int fd, const char *path) { ... }
 */
#define ___usdt_args0() ctx
#define ___usdt_args1(x) ___usdt_args0(), ({ long _x; usdt_arg(ctx, 0, &_x); (void *)_x; })
#define ___usdt_args2(x, args...) ___usdt_args1(args), ({ long _x; usdt_arg(ctx, 1, &_x); (void *)_x; })
#define ___usdt_args3(x, args...) ___usdt_args2(args), ({ long _x; usdt_arg(ctx, 2, &_x); (void *)_x; })
#define ___usdt_args4(x, args...) ___usdt_args3(args), ({ long _x; usdt_arg(ctx, 3, &_x); (void *)_x; })
#define ___usdt_args5(x, args...) ___usdt_args4(args), ({ long _x; usdt_arg(ctx, 4, &_x); (void *)_x; })
#define ___usdt_args6(x, args...) ___usdt_args5(args), ({ long _x; usdt_arg(ctx, 5, &_x); (void *)_x; })
#define ___usdt_args7(x, args...) ___usdt_args6(args), ({ long _x; usdt_arg(ctx, 6, &_x); (void *)_x; })
#define ___usdt_args8(x, args...) ___usdt_args7(args), ({ long _x; usdt_arg(ctx, 7, &_x); (void *)_x; })
#define ___usdt_args9(x, args...) ___usdt_args8(args), ({ long _x; usdt_arg(ctx, 8, &_x); (void *)_x; })
#define ___usdt_args10(x, args...) ___usdt_args9(args), ({ long _x; usdt_arg(ctx, 9, &_x); (void *)_x; })
#define ___usdt_args11(x, args...) ___usdt_args10(args), ({ long _x; usdt_arg(ctx, 10, &_x); (void *)_x; })
#define ___usdt_args12(x, args...) ___usdt_args11(args), ({ long _x; usdt_arg(ctx, 11, &_x); (void *)_x; })
#define ___usdt_args(args...) ___bpf_apply(___usdt_args, ___bpf_narg(args))(args)

#define BPF_USDT(name, args...)						    \
name(struct pt_regs *ctx);						    \
static __always_inline typeof(name(0))					    \
____##name(struct pt_regs *ctx, ##args);				    \
typeof(name(0)) name(struct pt_regs *ctx)				    \
{									    \
	_Pragma("GCC diagnostic push")					    \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		    \
	return ____##name(___usdt_args(args));				    \
	_Pragma("GCC diagnostic pop")					    \
}									    \
static __always_inline typeof(name(0))					    \
____##name(struct pt_regs *ctx, ##args)

#endif
