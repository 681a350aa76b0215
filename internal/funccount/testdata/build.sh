#!/bin/sh
# Rebuilds the committed test program of internal/funccount from fcprog.c.
# Tests never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing fcprog.c and commit the result:
#
#	apt-get install -y gcc systemtap-sdt-dev   # gcc and <sys/sdt.h>
#	internal/funccount/testdata/build.sh
#
# fcprog: static, non-PIE, so that it runs in the VM test's initramfs (no
# libc); .symtab kept: the tests match its functions by name.
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -static -no-pie -o fcprog fcprog.c
objcopy --remove-section=.comment fcprog
printf '%s: %s bytes\n' fcprog "$(wc -c <fcprog)"
