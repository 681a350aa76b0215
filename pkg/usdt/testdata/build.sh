#!/bin/sh
# Rebuilds the committed test programs of pkg/usdt from their C sources.
# Tests never compile anything (the same test binary runs in VMs without a
# compiler); run this by hand after changing a .c file, and commit the
# results:
#
#	apt-get install -y gcc g++ systemtap-sdt-dev   # gcc, g++ and <sys/sdt.h>
#	pkg/usdt/testdata/build.sh
#
# sdtprobe-O0: static, non-PIE (ET_EXEC), -O0: arguments in stack memory.
# sdtprobe-O2: static PIE (ET_DYN), -O2: arguments in registers, constants.
# Static binaries run in the VM test's initramfs, which has no libc. Note
# that a static glibc carries glibc's own USDT probes where glibc was built
# with them (Debian 12's is not).
# libsdtlib.so + sdtdyn: a shared library with a semaphore and a dynamic PIE
# that loads it through RUNPATH=$ORIGIN (host tests only: needs ld.so).
# throw: a dynamic C++ program that makes libstdc++ fire its own
# libstdcxx:throw probe (host tests only).
# libsdtlib.so and sdtdyn are copied to internal/tplist/testdata for
# tplist's tests.
set -eu
cd "$(dirname "$0")"
CC=${CC:-gcc}
CFLAGS="-g0 -Wall -Werror -fno-asynchronous-unwind-tables"
$CC $CFLAGS -O0 -static -no-pie -o sdtprobe-O0 sdtprobe.c sema.c
$CC $CFLAGS -O2 -static-pie -fPIE -o sdtprobe-O2 sdtprobe.c sema.c
$CC $CFLAGS -O2 -shared -fPIC -o libsdtlib.so libsdtlib.c
$CC $CFLAGS -O2 -fPIE -pie -o sdtdyn sdtdyn.c -L. -lsdtlib -Wl,-rpath,'$ORIGIN'
${CXX:-g++} $CFLAGS -O2 -fPIE -pie -o throw throw.cc
for f in sdtprobe-O0 sdtprobe-O2 libsdtlib.so sdtdyn throw; do
	# Keep .symtab (symbols are tested) but drop what tests do not read.
	objcopy --remove-section=.comment "$f"
	printf '%s: %s bytes\n' "$f" "$(wc -c <"$f")"
done
cp libsdtlib.so sdtdyn ../../../internal/tplist/testdata/
