#!/bin/sh
# Rebuilds the committed test program of internal/trace from classic.c.
# Tests never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing classic.c and commit the result:
#
#	apt-get install -y gcc systemtap-sdt-dev   # gcc and <sys/sdt.h>
#	internal/trace/testdata/build.sh
#
# classic: static, non-PIE, so that it runs in the VM test's initramfs too.
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -static -no-pie -o classic classic.c
objcopy --remove-section=.comment classic
printf 'classic: %s bytes\n' "$(wc -c <classic)"
