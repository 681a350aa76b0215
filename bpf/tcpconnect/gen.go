// Package tcpconnect holds the BPF programs of tcpconnect and tcpv4connect,
// one object per backend, compiled by bpf2go.
package tcpconnect

//go:generate go tool bpf2go -go-package tcpconnect -tags linux -target amd64 -type event -type count_key Kprobe kprobe.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package tcpconnect -tags linux -target amd64 -no-global-types Fentry fentry.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package tcpconnect -tags linux -target amd64 -no-global-types Tracepoint tracepoint.bpf.c -- -I../include -Wall -Werror

// Event is one connect attempt, as the BPF side reports it.
type Event = KprobeEvent

// CountKey is the key of the counts map (-c).
type CountKey = KprobeCountKey
