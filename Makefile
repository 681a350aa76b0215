# bpfscope: eBPF tracing tools in Go, in the line of bcc.
GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/sbin
# Pinned compiler, so that `make generate` reproduces the committed objects
# byte for byte (Debian 12's clang 14; scripts/install-deps.sh installs it).
export BPF2GO_CC    ?= clang-14
export BPF2GO_STRIP ?= llvm-strip-14
# Kernel tests skip without root or a kernel feature; with
# BPFSCOPE_TEST_STRICT=1 such a skip fails, except for the features listed in
# BPFSCOPE_TEST_ABSENT, which this machine kind's kernel (6.18, see
# ../shared/kernel-facts.md) lacks.
export BPFSCOPE_TEST_ABSENT ?= kprobes,fentry,kprobe_multi
JOBS     ?= $(shell nproc)

TOOLS := $(notdir $(wildcard tools/*))

.PHONY: all generate build test install bench vmtest vmlinux clean

all: build

# Regenerate every bpf2go output (the .o and .go files under bpf/ are
# committed, so `go build` needs nothing but Go). Packages run in parallel.
generate:
	$(GO) list ./bpf/... | xargs -P $(JOBS) -n 1 $(GO) generate

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./tools/...

test:
	$(GO) test -count=1 -timeout 15m ./...

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(addprefix bin/,$(TOOLS)) $(DESTDIR)$(BINDIR)/

bench: build
	scripts/bench/run.sh

# The kernel matrix runs the packages whose attach paths differ between
# kernels (kprobe, fentry, tracepoint and uprobe backends); then the KVM tools'
# tests in a 6.1 guest that runs the test guest nested (TCG emulates AMD SVM).
# PKGS=./... runs everything (much longer under TCG).
VMTEST_PKGS ?= ./pkg/loader ./pkg/maps ./internal/tcpconnect ./pkg/uprobe ./pkg/usdt \
	./pkg/compiler ./internal/argdist ./internal/trace ./internal/funclatency ./internal/funccount \
	./pkg/symbols
# cpudist's accuracy tests on every backend, kprobe included, on one kernel.
VMTEST_CPUDIST_RUN ?= TestOnCPUTotal|TestOffCPUBuckets|TestSignals
VMTEST_KVM_PKGS ?= ./internal/kvm ./internal/kvmguest ./internal/kvmexit ./internal/kvmtrace
vmtest:
	PKGS="$${PKGS:-$(VMTEST_PKGS)}" VMTEST_PARALLEL=$${VMTEST_PARALLEL:-2} scripts/vmtest/run.sh
	[ -n "$$PKGS" ] || KERNELS=6.1 PKGS="$(VMTEST_KVM_PKGS)" VMTEST_SMP=1 \
		VMTEST_MODULES=irqbypass,kvm,ccp,kvm-amd \
		VMTEST_APPEND=bpfscope.env.BPFSCOPE_TEST_KVM=kvm,kvm_exit scripts/vmtest/run.sh
	[ -n "$$PKGS" ] || KERNELS=6.12 PKGS=./internal/cpudist RUN='$(VMTEST_CPUDIST_RUN)' scripts/vmtest/run.sh

# vmlinux.h is generated from the running kernel's BTF; it is committed and
# only regenerated on purpose.
vmlinux:
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h

clean:
	rm -rf bin
