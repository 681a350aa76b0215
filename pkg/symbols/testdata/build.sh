#!/bin/sh
# Rebuilds the committed test programs of pkg/symbols from spin.c. Tests
# never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing spin.c and commit the results:
#
#	apt-get install -y gcc
#	pkg/symbols/testdata/build.sh
#
# spin-pie:   static PIE (ET_DYN), no libc, no dynamic linker
# spin-nopie: static non-PIE (ET_EXEC), no libc
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -O2 -Wall -Werror -fno-asynchronous-unwind-tables -nostdlib -ffreestanding -Wl,--build-id=none"
$CC $CFLAGS -fPIE -static-pie -o spin-pie spin.c
$CC $CFLAGS -fno-PIE -static -no-pie -o spin-nopie spin.c
for f in spin-pie spin-nopie; do
	objcopy --remove-section=.comment "$f"
	printf '%s: %s bytes\n' "$f" "$(wc -c <"$f")"
done
