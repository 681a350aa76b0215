#!/bin/sh
# Rebuilds pkg/compiler's test program from funcs.c. Tests never compile
# anything (the same test binary runs in VMs without a compiler); run this by
# hand after changing funcs.c and commit the result:
#
#	apt-get install -y gcc
#	pkg/compiler/testdata/build.sh
#
# funcs: static, no libc, non-PIE; keeps .symtab (the functions are probed).
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
$CC -g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables -fno-stack-protector \
	-nostdlib -static -no-pie -o funcs funcs.c
objcopy --remove-section=.comment funcs
printf 'funcs: %s bytes\n' "$(wc -c <funcs)"
