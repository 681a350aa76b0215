#!/usr/bin/env bash
# Runs the project's Go test binaries inside Debian stock kernels booted with
# qemu-system-x86_64 (TCG), one kernel after another. See docs/vmtest.md.
#
# Environment:
#   KERNELS="5.10 6.1"    kernel labels from scripts/vmtest/kernels (default: all)
#   PKGS=./pkg/loader     Go package pattern(s) to test (default: ./...)
#   RUN=REGEXP            -test.run for every binary (also VMTEST_RUN)
#   SKIP=REGEXP           -test.skip for every binary (also VMTEST_SKIP)
#   VMTEST_SHORT=1        -test.short for every binary
#   VMTEST_CACHE          cache dir (default $HOME/.cache/bpfscope-vmtest)
#   VMTEST_TIMEOUT        seconds per kernel before qemu is killed (default 300)
#   VMTEST_TEST_TIMEOUT   -test.timeout per test binary (default 180s)
#   VMTEST_SMP            vCPUs for every kernel (default: per kernel, column smp)
#   VMTEST_TCG            multi|single: TCG threading for every kernel
#                         (default: per kernel, column tcg)
#   VMTEST_BOOT           bzimage (default): boot vmlinuz; elf: boot the
#                         extracted ELF vmlinux via PVH (faster, see docs)
#   VMTEST_MEM            guest memory in MiB (default 1536)
#   VMTEST_MODULES        modules to load in every kernel, comma-separated
#                         ("none" for none; default: per kernel, column modules)
#   VMTEST_STRICT         1 (default): BPFSCOPE_TEST_STRICT=1 in the guest
#   VMTEST_APPEND         extra kernel command line (e.g. kvm_amd.nested=1,
#                         bpfscope.env.NAME=VALUE)
#   VMTEST_QEMU_ARGS      extra qemu arguments (word-split)
#   VMTEST_BUILDFLAGS     extra `go test -c` flags (word-split), e.g. -tags=x
#   VMTEST_JOBS           test binaries built in parallel (default: nproc)
#   VMTEST_HOST_FILES     host files copied into the guest at the same path
#                         (default: libc, the dynamic loader and ld.so.cache,
#                         as uprobe targets; "none" for none)
#   VMTEST_GZIP           gzip level of the initramfs, 0 for none (default 1)
#   VMTEST_PARALLEL       kernels booted at once (default 1: one after another)
#   VMTEST_PREFIX         1 (default): prefix guest output lines with [label]
#   VMTEST_APT_MAX_AGE    hours before the private apt lists are refreshed (24)
#   VMTEST_MIRROR, VMTEST_SECURITY_MIRROR   Debian mirrors (default: taken
#                         from the machine's apt sources, else deb.debian.org)
#   VMTEST_KEEP=1         keep the work dir (initramfs, test binaries)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
KERNELS_FILE=${VMTEST_KERNELS_FILE:-$SCRIPT_DIR/kernels}
CACHE=${VMTEST_CACHE:-${HOME:-/root}/.cache/bpfscope-vmtest}
VM_TIMEOUT=${VMTEST_TIMEOUT:-300}
TEST_TIMEOUT=${VMTEST_TEST_TIMEOUT:-180s}
MEM=${VMTEST_MEM:-1536}
STRICT=${VMTEST_STRICT:-1}
PREFIX=${VMTEST_PREFIX:-1}
APT_MAX_AGE=${VMTEST_APT_MAX_AGE:-24}
BOOT=${VMTEST_BOOT:-bzimage}
JOBS=${VMTEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
GZIP_LEVEL=${VMTEST_GZIP:-1}
PARALLEL=${VMTEST_PARALLEL:-1}
HOST_FILES=${VMTEST_HOST_FILES-/lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 /etc/ld.so.cache}
[[ $HOST_FILES == none ]] && HOST_FILES=
[[ $BOOT == bzimage || $BOOT == elf ]] || { echo "vmtest: VMTEST_BOOT must be bzimage or elf" >&2; exit 2; }
TEST_RUN=${VMTEST_RUN:-${RUN:-}}
TEST_SKIP=${VMTEST_SKIP:-${SKIP:-}}
read -r -a PKG_PATTERNS <<<"${PKGS:-./...}"
read -r -a BUILDFLAGS <<<"${VMTEST_BUILDFLAGS:-}"
read -r -a QEMU_EXTRA <<<"${VMTEST_QEMU_ARGS:-}"

log() { printf 'vmtest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }
# secs START_US END_US: elapsed seconds with one decimal.
secs() { local d=$(($2 - $1)); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "$c not found (apt-get install -y qemu-system-x86 xz-utils; see docs/vmtest.md)"
	done
}

# ---------------------------------------------------------------- matrix ---

# Rows of the kernels file: label suites regexp smp tcg modules absent.
declare -a K_LABEL=() K_SUITES=() K_REGEXP=() K_SMP=() K_TCG=() K_MODULES=() K_ABSENT=()
load_matrix() {
	local label suites regexp smp tcg modules absent extra
	while read -r label suites regexp smp tcg modules absent extra; do
		[[ -z $label || $label == \#* ]] && continue
		[[ -n $absent && -z $extra ]] || die "$KERNELS_FILE: bad line for $label"
		[[ $smp =~ ^[0-9]+$ && $tcg =~ ^(multi|single)$ ]] || die "$KERNELS_FILE: bad smp/tcg for $label"
		K_LABEL+=("$label") K_SUITES+=("$suites") K_REGEXP+=("$regexp")
		K_SMP+=("$smp") K_TCG+=("$tcg") K_MODULES+=("$modules") K_ABSENT+=("$absent")
	done <"$KERNELS_FILE"
}

# selected_rows: indexes of K_* rows selected by $KERNELS.
selected_rows() {
	local want i w found
	read -r -a want <<<"${KERNELS:-}"
	if ((${#want[@]} == 0)) || [[ ${want[0]} == all ]]; then
		for i in "${!K_LABEL[@]}"; do echo "$i"; done
		return
	fi
	for w in "${want[@]}"; do
		found=
		for i in "${!K_LABEL[@]}"; do
			# "7" and "7.3" select the "7.x" row.
			if [[ $w == "${K_LABEL[i]}" || ${K_LABEL[i]} == *.x && $w == "${K_LABEL[i]%.x}"* ]]; then
				echo "$i"
				found=1
			fi
		done
		[[ -n $found ]] || die "unknown kernel '$w' (have: ${K_LABEL[*]})"
	done
}

# ------------------------------------------------------------------- apt ---

APT_DIR=$CACHE/apt
APT_OPTS=(
	-o "Dir::Etc::sourcelist=$APT_DIR/sources.list"
	-o "Dir::Etc::sourceparts=$APT_DIR/empty"
	-o "Dir::State::Lists=$APT_DIR/lists"
	-o "Dir::Cache=$APT_DIR/cache"
	-o "Dir::Cache::pkgcache=pkgcache.bin"
	-o "Dir::Cache::srcpkgcache=srcpkgcache.bin"
	-o "APT::Sandbox::User=root"
	-o "Acquire::Languages=none"
)

# mirror_from_host SUFFIX: the first URI of the machine's apt sources whose
# path ends in /SUFFIX (debian or debian-security).
mirror_from_host() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		grep -E '^[[:space:]]*(deb|URIs:)[[:space:]]' "$f" || true
	done | tr -s '[:blank:]' '\n' | grep -E "^(https?|file)://.*/$1/?\$" | head -n1 | sed 's,/$,,'
}

# apt_setup SUITES...: write the private sources.list and update the private
# lists if they are missing, stale or for other suites. Never touches the
# machine's own apt configuration.
apt_setup() {
	local main sec keyring opts suite list stamp
	main=${VMTEST_MIRROR:-$(mirror_from_host debian)}
	main=${main:-http://deb.debian.org/debian}
	sec=${VMTEST_SECURITY_MIRROR:-$(mirror_from_host debian-security)}
	sec=${sec:-http://deb.debian.org/debian-security}
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	opts="arch=amd64 target=Packages"
	[[ -r $keyring ]] && opts+=" signed-by=$keyring"
	list=
	for suite in $(printf '%s\n' "$@" | tr ',' '\n' | sort -u); do
		if [[ $suite == *-security ]]; then
			list+="deb [$opts] $sec $suite main"$'\n'
		else
			list+="deb [$opts] $main $suite main"$'\n'
		fi
	done
	mkdir -p "$APT_DIR/empty" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	stamp=$APT_DIR/updated
	if [[ -f $stamp && "$(cat "$APT_DIR/sources.list" 2>/dev/null)"$'\n' == "$list" ]] &&
		[[ -z $(find "$stamp" -mmin "+$((APT_MAX_AGE * 60))") ]]; then
		return 0
	fi
	printf '%s' "$list" >"$APT_DIR/sources.list"
	rm -f "$stamp"
	log "updating private apt lists in $APT_DIR"
	if apt-get -q "${APT_OPTS[@]}" update >"$APT_DIR/update.log" 2>&1; then
		touch "$stamp"
	else
		cat "$APT_DIR/update.log" >&2
		log "warning: apt-get update failed; using cached kernels only"
		return 1
	fi
}

# resolve_pkg SUITES REGEXP: newest package matching REGEXP in those suites.
resolve_pkg() {
	local suites=$1 re=$2
	local -a names
	mapfile -t names < <(apt-cache "${APT_OPTS[@]}" pkgnames linux- | grep -E "$re" || true)
	((${#names[@]})) || return 0
	apt-cache "${APT_OPTS[@]}" madison "${names[@]}" |
		awk -F'|' -v suites=",$suites," '{
			gsub(/ /, "", $1); n = split($3, f, " "); split(f[2], s, "/")
			if (index(suites, "," s[1] ",")) print $1
		}' | sort -uV | tail -n1
}

# fetch_deb PKG: path of PKG's .deb in the cache, downloading it if needed.
fetch_deb() {
	local pkg=$1 f
	mkdir -p "$CACHE/debs"
	for f in "$CACHE/debs/${pkg}_"*.deb; do
		[[ -f $f ]] && { echo "$f"; return; }
	done
	log "downloading $pkg"
	(cd "$CACHE/debs" && apt-get -q "${APT_OPTS[@]}" download "$pkg" >&2) || die "apt-get download $pkg failed"
	for f in "$CACHE/debs/${pkg}_"*.deb; do
		[[ -f $f ]] && { echo "$f"; return; }
	done
	die "downloaded $pkg but found no .deb"
}

# ----------------------------------------------------------------- kernel ---

# prepare_kernel PKG MODULES: make sure $CACHE/kernels/PKG has vmlinuz,
# release and, for MODULES (comma-separated) and the modules they depend on,
# modules/NAME.ko (decompressed; NAME with _ for -).
prepare_kernel() {
	local pkg=$1 modules=$2 kdir tmp deb img release
	kdir=$CACHE/kernels/$pkg
	if [[ ! -f $kdir/vmlinuz || ! -f $kdir/release ]]; then
		deb=$(fetch_deb "$pkg")
		tmp=$(mktemp -d "$CACHE/extract.XXXXXX")
		dpkg-deb -x "$deb" "$tmp"
		img=$( (find "$tmp/boot" "$tmp/usr/lib/modules" "$tmp/lib/modules" -maxdepth 2 \
			\( -name 'vmlinuz-*' -o -name vmlinuz \) -type f 2>/dev/null || true) | head -n1)
		[[ -n $img ]] || die "$pkg: no vmlinuz in $deb"
		if [[ $img == */boot/vmlinuz-* ]]; then
			release=${img##*/vmlinuz-}
		else
			release=$(basename "$(dirname "$img")")
		fi
		mkdir -p "$kdir"
		cp "$img" "$kdir/vmlinuz.new" && mv "$kdir/vmlinuz.new" "$kdir/vmlinuz"
		echo "$release" >"$kdir/release"
		rm -rf "$tmp"
	fi
	[[ -z $modules || $modules == - ]] && return 0
	prepare_modules "$pkg" "$modules"
}

# mod_deps KO: the modules KO depends on (the depends= field of .modinfo).
mod_deps() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

# module_order KDIR MODULES: "ok NAME" for MODULES and their dependencies,
# dependencies first, and "missing NAME" for those not in KDIR/modules yet.
declare -A MOD_SEEN=()
module_order() {
	local kdir=$1 m
	MOD_SEEN=()
	for m in ${2//,/ }; do module_visit "$kdir" "${m//-/_}"; done
}
module_visit() {
	local kdir=$1 m=$2 d
	[[ -n ${MOD_SEEN[$m]:-} ]] && return 0
	MOD_SEEN[$m]=1
	if [[ ! -f $kdir/modules/$m.ko ]]; then
		echo "missing $m"
		return 0
	fi
	for d in $(mod_deps "$kdir/modules/$m.ko"); do module_visit "$kdir" "${d//-/_}"; done
	echo "ok $m"
}

# prepare_modules PKG MODULES: extract MODULES and their dependencies from
# the kernel's modules package into $CACHE/kernels/PKG/modules.
prepare_modules() {
	local pkg=$1 modules=$2 kdir=$CACHE/kernels/$1 tmp='' release mpkg deb m n f found
	local -a missing
	release=$(cat "$kdir/release")
	mkdir -p "$kdir/modules"
	while :; do
		mapfile -t missing < <(module_order "$kdir" "$modules" | sed -n 's/^missing //p')
		((${#missing[@]})) || break
		if [[ -z $tmp ]]; then
			mpkg=$pkg
			[[ $pkg == linux-binary-* ]] && mpkg=linux-modules-${pkg#linux-binary-}
			deb=$(fetch_deb "$mpkg")
			tmp=$(mktemp -d "$CACHE/extract.XXXXXX")
			dpkg-deb -x "$deb" "$tmp"
		fi
		for m in "${missing[@]}"; do
			found=
			for n in "$m" "${m//_/-}"; do
				for f in "$tmp"/{usr/,}lib/modules/"$release"/kernel; do
					[[ -d $f ]] || continue
					found=$(find "$f" \( -name "$n.ko" -o -name "$n.ko.xz" -o -name "$n.ko.zst" -o -name "$n.ko.gz" \) -type f | head -n1)
					[[ -n $found ]] && break 2
				done
			done
			[[ -n $found ]] || { rm -rf "$tmp"; die "$pkg: module $m not found in $mpkg"; }
			case $found in
			*.xz) need xz; xz -dc "$found" >"$kdir/modules/$m.ko.new" ;;
			*.zst) need zstd; zstd -qdc "$found" >"$kdir/modules/$m.ko.new" ;;
			*.gz) gzip -dc "$found" >"$kdir/modules/$m.ko.new" ;;
			*) cp "$found" "$kdir/modules/$m.ko.new" ;;
			esac
			mv "$kdir/modules/$m.ko.new" "$kdir/modules/$m.ko"
		done
	done
	[[ -z $tmp ]] || rm -rf "$tmp"
}

# extract_vmlinux KDIR: KDIR/vmlinux, the ELF image inside KDIR/vmlinuz (a
# bzImage whose payload is xz, zstd or gzip compressed; Debian uses xz up to
# 6.1 and zstd from 6.12 on).
extract_vmlinux() {
	local kdir=$1 in=$1/vmlinuz out=$1/vmlinux.new spec magic off
	[[ -f $kdir/vmlinux ]] && return 0
	local -a dec
	# Magic bytes (as grep -P escapes) and decompressor.
	for spec in '\xfd7zXZ\x00 xz -dc --single-stream' '\x28\xb5\x2f\xfd zstd -dcq' '\x1f\x8b\x08\x00 gzip -dc'; do
		magic=${spec%% *}
		read -r -a dec <<<"${spec#* }"
		command -v "${dec[0]}" >/dev/null || continue
		while read -r off; do
			tail -c "+$((off + 1))" "$in" | "${dec[@]}" >"$out" 2>/dev/null || true
			if [[ $(head -c4 "$out" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
				mv "$out" "$kdir/vmlinux"
				return 0
			fi
		done < <(LC_ALL=C grep -obUaP "$magic" "$in" | cut -d: -f1)
	done
	rm -f "$out"
	die "cannot extract an ELF vmlinux from $in (need xz-utils/zstd)"
}

# ------------------------------------------------------------------ build ---

WORK=
cleanup() {
	local pid f
	[[ -n $WORK ]] || return 0
	for f in "$WORK"/qemu-*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
	done
	if [[ -n $WORK && ${VMTEST_KEEP:-0} != 1 ]]; then
		rm -rf "$WORK"
	elif [[ -n $WORK ]]; then
		log "work dir kept: $WORK"
	fi
}

# build_initramfs: test binaries, init and testdata into $WORK/initramfs.cpio.gz.
build_initramfs() {
	local root=$WORK/root ip dir rel name listing k running=0 failed=0 n=0
	local -a ips=() dirs=() rels=() names=()
	mkdir -p "$root/tests" "$root/src" "$WORK/bin"
	: >"$root/tests/manifest"
	(cd "$ROOT" && go build -o "$WORK/bin/mkinitramfs" ./scripts/vmtest/mkinitramfs)
	(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o "$root/init" ./scripts/vmtest/init)
	listing=$(cd "$ROOT" && go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "${PKG_PATTERNS[@]}") ||
		die "go list ${PKG_PATTERNS[*]} failed"
	while read -r ip dir; do
		[[ -n $ip ]] || continue
		rel=${dir#"$ROOT"}
		rel=${rel#/}
		rel=${rel:-.}
		if [[ $rel == . ]]; then name=$(basename "$ROOT"); else name=${rel//\//_}; fi
		ips+=("$ip") dirs+=("$dir") rels+=("$rel") names+=("$name")
	done <<<"$listing"
	((${#ips[@]})) || die "no packages with tests in: ${PKG_PATTERNS[*]}"

	# Static test binaries, JOBS at a time (linking is single-threaded).
	for k in "${!ips[@]}"; do
		log "building ${ips[k]} -> /tests/${names[k]}.test"
		(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
			go test -c "${BUILDFLAGS[@]}" -o "$root/tests/${names[k]}.test" "${ips[k]}") &
		if ((++running >= JOBS)); then
			wait -n || failed=1
			running=$((running - 1))
		fi
	done
	while ((running > 0)); do
		wait -n || failed=1
		running=$((running - 1))
	done
	((failed == 0)) || die "building the test binaries failed"

	for k in "${!ips[@]}"; do
		if [[ ! -f $root/tests/${names[k]}.test ]]; then
			log "${ips[k]}: no test binary built (no tests?)"
			continue
		fi
		mkdir -p "$root/src/${rels[k]}"
		if [[ -d ${dirs[k]}/testdata ]]; then
			cp -a "${dirs[k]}/testdata" "$root/src/${rels[k]}/"
		fi
		printf '%s %s\n' "${names[k]}" "${rels[k]}" >>"$root/tests/manifest"
		n=$((n + 1))
	done
	((n > 0)) || die "no test binaries built for: ${PKG_PATTERNS[*]}"
	local f
	for f in $HOST_FILES; do
		if [[ -e $f ]]; then
			mkdir -p "$root/$(dirname "$f")"
			cp -L "$f" "$root/$f"
		else
			log "warning: $f not found on the host, not in the guest"
		fi
	done
	"$WORK/bin/mkinitramfs" -console -level "$GZIP_LEVEL" -o "$WORK/initramfs.cpio.gz" "$root"
	log "initramfs: $n test binaries, $(du -m "$WORK/initramfs.cpio.gz" | cut -f1) MiB"
}

# --------------------------------------------------------------------- run ---

# run_kernel INDEX PKG: boot kernel row INDEX and run the tests. Writes
# $WORK/result.LABEL with key=value lines.
run_kernel() {
	local i=$1 pkg=$2 label=${K_LABEL[$1]} kdir smp tcg modules absent initrd append m image accel
	kdir=$CACHE/kernels/$pkg
	smp=${VMTEST_SMP:-${K_SMP[i]}}
	tcg=${VMTEST_TCG:-${K_TCG[i]}}
	accel=tcg
	[[ $tcg == single ]] && accel=tcg,thread=single
	image=$kdir/vmlinuz
	[[ $BOOT == elf ]] && image=$kdir/vmlinux
	modules=${VMTEST_MODULES:-${K_MODULES[i]}}
	[[ $modules == none ]] && modules=-
	absent=${K_ABSENT[i]}
	[[ $absent == - ]] && absent=
	initrd=$WORK/initramfs.cpio.gz
	append="console=ttyS0 panic=-1 quiet bpfscope.label=$label bpfscope.absent=$absent"
	append+=" bpfscope.strict=$STRICT bpfscope.timeout=$TEST_TIMEOUT"
	[[ -n $TEST_RUN ]] && append+=" \"bpfscope.run=$TEST_RUN\""
	[[ -n $TEST_SKIP ]] && append+=" \"bpfscope.skip=$TEST_SKIP\""
	[[ ${VMTEST_SHORT:-0} == 1 ]] && append+=" bpfscope.short=1"
	if [[ $modules != - ]]; then
		# Dependencies first, e.g. kvm_amd needs kvm and ccp; ccp needs
		# rng_core on 5.10.
		local -a order
		mapfile -t order < <(module_order "$kdir" "$modules" | sed -n 's/^ok //p')
		modules=$(IFS=,; echo "${order[*]}")
		rm -rf "$WORK/mods-$label" && mkdir -p "$WORK/mods-$label/lib/modules"
		for m in "${order[@]}"; do cp "$kdir/modules/$m.ko" "$WORK/mods-$label/lib/modules/"; done
		"$WORK/bin/mkinitramfs" -o "$WORK/mods-$label.cpio.gz" "$WORK/mods-$label"
		initrd=$WORK/initramfs-$label.cpio.gz
		cat "$WORK/initramfs.cpio.gz" "$WORK/mods-$label.cpio.gz" >"$initrd"
		append+=" bpfscope.modules=$modules"
	fi
	[[ -n ${VMTEST_APPEND:-} ]] && append+=" $VMTEST_APPEND"

	local -a qemu=(
		qemu-system-x86_64 -nographic -no-reboot -nic none
		-accel "$accel" -cpu max -smp "$smp" -m "$MEM"
		-kernel "$image" -initrd "$initrd" -append "$append"
		-pidfile "$WORK/qemu-$label.pid" "${QEMU_EXTRA[@]}"
	)
	local res=$WORK/result.$label logf=$WORK/$label.log pfx=
	[[ $PREFIX == 1 ]] && pfx="[$label] "
	log "booting $label ($pkg, $smp vCPUs, TCG $tcg, timeout ${VM_TIMEOUT}s): ${qemu[*]}"
	local t0 line t rc=
	: >"$logf"
	t0=$(now_us)
	{
		printf 't0=%s\n' "$t0" >&3
		{
			timeout --foreground -k 10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null 2>&1 && rc=0 || rc=$?
			echo "__VMTEST_QEMU_EXIT $rc"
		} | sed -u -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' | while IFS= read -r line || [[ -n $line ]]; do
			line=${line%$'\r'}
			t=${EPOCHREALTIME/[.,]/}
			case $line in
			"__VMTEST_QEMU_EXIT "*)
				printf 'qemu_rc=%s\nt_end=%s\n' "${line#* }" "$t" >&3
				continue
				;;
			*BPFSCOPE-VMTEST-INIT:*)
				printf 't_init=%s\n' "$t" >&3
				[[ $line =~ kernel=([^ ]+) ]] && printf 'release=%s\n' "${BASH_REMATCH[1]}" >&3
				;;
			*BPFSCOPE-VMTEST-RESULT:*)
				printf 't_result=%s\nresult=%s\n' "$t" "${line#*BPFSCOPE-VMTEST-RESULT: }" >&3
				;;
			*"Kernel panic"* | *"Oops:"* | *"BUG:"* | *"WARNING: CPU:"*)
				printf 'oops=1\n' >&3
				;;
			esac
			printf '%s%s\n' "$pfx" "$line"
			printf '%s\n' "$line" >>"$logf"
		done
	} 3>"$res" &
	# In the background so that a signal (trap in main) is handled at once;
	# the EXIT trap then kills qemu.
	wait "$!" || true
	rm -f "$WORK/qemu-$label.pid"
	printf 'smp=%s\ntcg=%s\n' "$smp" "$tcg" >>"$res"
	mkdir -p "$CACHE/logs"
	cp "$logf" "$CACHE/logs/$label.log.$$" && mv "$CACHE/logs/$label.log.$$" "$CACHE/logs/$label.log"
}

# Reads $WORK/result.LABEL into the summary; returns 1 if the kernel failed.
SUMMARY_FMT='%-6s %-24s %-38s %5s %6s %6s %7s %7s  %s\n'
summarize_kernel() {
	local label=$1 pkg=$2 res=$WORK/result.$1
	local t0='' t_init='' t_result='' t_end='' result='' qemu_rc='' release='' oops='' smp='' tcg=''
	local k v boot=- tests=- total=-
	while IFS='=' read -r k v; do
		case $k in
		t0) t0=$v ;; t_init) t_init=$v ;; t_result) t_result=$v ;; t_end) t_end=$v ;;
		result) result=$v ;; qemu_rc) qemu_rc=$v ;; release) release=$v ;; oops) oops=1 ;;
		smp) smp=$v ;; tcg) tcg=$v ;;
		esac
	done <"$res"
	[[ -n $t_init ]] && boot=$(secs "$t0" "$t_init")
	[[ -n $t_init && -n $t_result ]] && tests=$(secs "$t_init" "$t_result")
	[[ -n $t_end ]] && total=$(secs "$t0" "$t_end")
	if [[ -z $result ]]; then
		case $qemu_rc in
		124 | 137) result="FAIL timeout after ${VM_TIMEOUT}s" ;;
		*) result="FAIL no result marker (qemu exit ${qemu_rc:-?})" ;;
		esac
	fi
	[[ -n $oops ]] && result+=" (kernel oops/warning in log)"
	# shellcheck disable=SC2059
	printf "$SUMMARY_FMT" "$label" "${release:--}" "$pkg" "$smp" "$tcg" "$boot" "$tests" "$total" "$result" >>"$WORK/summary"
	[[ $result == PASS* ]]
}

# prune_stale: remove superseded kernels from the cache, unless another run
# is using the cache (then it is left for a later run).
prune_stale() {
	local old
	[[ -s $CACHE/stale ]] || return 0
	if flock -xn 8; then
		while read -r old; do
			[[ -n $old ]] || continue
			log "pruning $old from the cache"
			rm -rf "${CACHE:?}/kernels/$old" "$CACHE/debs/${old}_"*.deb \
				"$CACHE/debs/linux-modules-${old#linux-binary-}_"*.deb
		done <"$CACHE/stale"
		rm -f "$CACHE/stale"
	fi
	flock -s 8
}

main() {
	need go qemu-system-x86_64 dpkg-deb apt-get apt-cache timeout flock
	[[ -r $KERNELS_FILE ]] || die "no kernel matrix at $KERNELS_FILE"
	load_matrix
	local -a rows pkgs
	mapfile -t rows < <(selected_rows)
	((${#rows[@]})) || die "no kernels selected"
	mkdir -p "$CACHE"
	CACHE=$(cd "$CACHE" && pwd)
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/bpfscope-vmtest.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	# Several runs may share the cache: each holds a shared lock on .users for
	# its lifetime, and .lock is held exclusively while the cache is updated.
	exec 8>"$CACHE/.users" 9>"$CACHE/.lock"
	flock -s 8
	local tp
	tp=$(now_us)
	if ! flock -n 9; then
		log "waiting for another run to finish updating the cache"
		flock 9
	fi
	rm -rf "$CACHE"/extract.* # left over by an interrupted run

	# Resolve and fetch kernels first: fail early on network problems.
	local -a suites=()
	local i pkg online=1 modules
	# All suites of the matrix, so that runs of different subsets share lists.
	for i in "${!K_LABEL[@]}"; do suites+=("${K_SUITES[i]}"); done
	apt_setup "${suites[@]}" || online=0
	mkdir -p "$CACHE/resolved"
	local res old old_re old_suites
	for i in "${rows[@]}"; do
		# resolved/LABEL: "PACKAGE REGEXP SUITES", reused until the lists
		# are updated or the row changes.
		res=$CACHE/resolved/${K_LABEL[i]}
		pkg='' old='' old_re='' old_suites=''
		[[ -f $res ]] && read -r old old_re old_suites <"$res"
		if [[ -n $old && $old_re == "${K_REGEXP[i]}" && $old_suites == "${K_SUITES[i]}" &&
			(! $APT_DIR/updated -nt $res || $online == 0) ]]; then
			pkg=$old
		elif ((online)); then
			pkg=$(resolve_pkg "${K_SUITES[i]}" "${K_REGEXP[i]}")
		fi
		if [[ -z $pkg && -n $old ]]; then
			pkg=$old
			log "warning: ${K_LABEL[i]}: using previously resolved $pkg"
		fi
		[[ -n $pkg ]] || die "${K_LABEL[i]}: no package matching ${K_REGEXP[i]} in ${K_SUITES[i]}"
		if [[ -n $old && $old != "$pkg" ]]; then
			log "${K_LABEL[i]}: $old superseded by $pkg"
			echo "$old" >>"$CACHE/stale"
		fi
		printf '%s %s %s\n' "$pkg" "${K_REGEXP[i]}" "${K_SUITES[i]}" >"$res"
		modules=${VMTEST_MODULES:-${K_MODULES[i]}}
		[[ $modules == none ]] && modules=-
		prepare_kernel "$pkg" "$modules"
		[[ $BOOT == elf ]] && extract_vmlinux "$CACHE/kernels/$pkg"
		pkgs[i]=$pkg
	done
	prune_stale
	flock -u 9
	log "kernels ready in $(secs "$tp" "$(now_us)")s"

	local tb
	tb=$(now_us)
	build_initramfs
	log "build took $(secs "$tb" "$(now_us)")s"

	# One kernel after another; VMTEST_PARALLEL=N boots up to N at once.
	local failed=0 running=0
	for i in "${rows[@]}"; do
		if ((PARALLEL <= 1)); then
			run_kernel "$i" "${pkgs[i]}"
			continue
		fi
		run_kernel "$i" "${pkgs[i]}" &
		if ((++running >= PARALLEL)); then
			wait -n || true
			running=$((running - 1))
		fi
	done
	wait
	for i in "${rows[@]}"; do
		summarize_kernel "${K_LABEL[i]}" "${pkgs[i]}" || failed=1
	done

	echo
	# shellcheck disable=SC2059
	printf "$SUMMARY_FMT" KERNEL RELEASE PACKAGE VCPUS TCG BOOT_S TESTS_S TOTAL_S RESULT
	cat "$WORK/summary"
	echo "(serial logs: $CACHE/logs/LABEL.log)"
	return "$failed"
}

main "$@"
