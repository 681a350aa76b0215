// Package kvm holds the BPF programs of kvmexit and kvmtrace, compiled by
// bpf2go: one object per tool, sharing kvm.bpf.h (tracepoint fields at
// offsets from tracefs, filters). Both use classic tracepoints only: the
// kvm tracepoints' raw arguments (raw_tp, tp_btf) are a struct kvm_vcpu
// pointer whose exit reason sits in vendor-module structures.
package kvm

//go:generate go tool bpf2go -go-package kvm -tags linux -target amd64 -type exit_key -type uexit_key -type lat_key Kvmexit kvmexit.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package kvm -tags linux -target amd64 -no-global-types -type event Kvmtrace kvmtrace.bpf.c -- -I../include -Wall -Werror

// ExitKey is a key of kvmexit's counts map.
type ExitKey = KvmexitExitKey

// UexitKey is a key of kvmexit's ucounts map (--userspace).
type UexitKey = KvmexitUexitKey

// LatKey is a key of kvmexit's hist map (-L).
type LatKey = KvmexitLatKey

// Event is one kvmtrace event.
type Event = KvmtraceEvent
