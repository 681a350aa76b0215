#!/bin/sh
# Rebuilds the committed test programs of pkg/uprobe from calls.c. Tests
# never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing calls.c and commit the results:
#
#	apt-get install -y gcc
#	pkg/uprobe/testdata/build.sh
#
# calls:        dynamic PIE (ET_DYN), getppid in libc.so.6 (host tests)
# calls-nopie:  dynamic non-PIE (ET_EXEC) (host tests)
# calls-static: static non-PIE, glibc's getppid inside it, .symtab only;
#               runs in the VM test's initramfs, which has no libc
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -fPIE -pie -o calls calls.c
$CC $CFLAGS -fno-PIE -no-pie -o calls-nopie calls.c
$CC $CFLAGS -static -no-pie -o calls-static calls.c
for f in calls calls-nopie calls-static; do
	objcopy --remove-section=.comment "$f"
	printf '%s: %s bytes\n' "$f" "$(wc -c <"$f")"
done
