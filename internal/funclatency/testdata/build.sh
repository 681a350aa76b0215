#!/bin/sh
# Rebuilds the committed test program of internal/funclatency from lat.c.
# Tests never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing lat.c and commit the result:
#
#	apt-get install -y gcc
#	internal/funclatency/testdata/build.sh
#
# lat: static, non-PIE, so that it runs everywhere, the VM test's
# initramfs (no libc) included.
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -static -no-pie -o lat lat.c
objcopy --remove-section=.comment lat
printf 'lat: %s bytes\n' "$(wc -c <lat)"
