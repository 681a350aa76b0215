// SPDX-License-Identifier: GPL-2.0
// funcs: a tiny static program without libc, a target for the uprobe
// programs of pkg/compiler's tests (which load them without running it).
// Its functions take the usual kinds of parameters and return a value.
struct pair {
	long a, b;
};

__attribute__((noinline)) long add6(long a, long b, long c, long d, long e, long f)
{
	return a + b + c + d + e + f;
}

__attribute__((noinline)) long pair_sum(const struct pair *p, const char *name)
{
	return p->a + p->b + name[0];
}

__attribute__((force_align_arg_pointer)) void _start(void)
{
	struct pair p = {1, 2};

	long r = add6(1, 2, 3, 4, 5, 6) + pair_sum(&p, "x");
	__asm__ volatile("syscall" : : "a"(60), "D"(r & 0x7f) : "rcx", "r11", "memory");
	__builtin_unreachable();
}
