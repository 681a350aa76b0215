#!/bin/sh
# Rebuilds the committed test programs of internal/argdist from writer.c.
# Tests never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing writer.c and commit the results:
#
#	apt-get install -y gcc systemtap-sdt-dev   # gcc and <sys/sdt.h>
#	internal/argdist/testdata/build.sh
#
# writer:     static, non-PIE: libc's write() inside it, a USDT probe;
#             runs everywhere, the VM test's initramfs (no libc) included
# writer-dyn: dynamic PIE, write() in libc.so.6 (host tests of p:c:write)
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -static -no-pie -o writer writer.c
$CC $CFLAGS -fPIE -pie -o writer-dyn writer.c
for f in writer writer-dyn; do
	objcopy --remove-section=.comment "$f"
	printf '%s: %s bytes\n' "$f" "$(wc -c <"$f")"
done
