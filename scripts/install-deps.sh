#!/usr/bin/env bash
# Installs what bpfscope needs to generate, build and test, on Debian 12 as
# root. Idempotent: installs only what is missing.
set -euo pipefail

# clang-14, llvm-14, libbpf-dev: make generate (bpf2go, BPF headers)
# bpftool: make vmlinux
# qemu-system-x86, cpio, xz-utils, zstd: make vmtest (Debian kernels under TCG)
# systemtap-sdt-dev, g++: rebuilding the USDT test binaries (pkg/usdt/testdata/build.sh)
packages=(
	clang-14 llvm-14 libbpf-dev
	bpftool
	qemu-system-x86 cpio xz-utils zstd
	iproute2 ca-certificates
	systemtap-sdt-dev g++
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null; then
	if [[ -x /usr/local/go/bin/go ]]; then
		echo "install-deps: Go is at /usr/local/go/bin; add it to PATH" >&2
	else
		echo "install-deps: Go 1.26 or later is needed: https://go.dev/doc/install" >&2
	fi
	exit 1
fi
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if ((go_minor < 26)); then
	echo "install-deps: $(go env GOVERSION) is too old: bpfscope needs Go 1.26 or later" >&2
	exit 1
fi

# Tools and tests read tracepoint formats from tracefs.
if ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs tracefs /sys/kernel/tracing
fi

# Fetch the Go modules now, so that tests do not pay for it.
go mod download
