// Package bitstest holds a BPF program that runs the functions of
// bpf/include/bits.bpf.h on a value given by BPF_PROG_TEST_RUN, for tests
// that check them in the kernel against their Go counterparts.
package bitstest

//go:generate go tool bpf2go -go-package bitstest -tags linux -target amd64 Bits bitstest.bpf.c -- -I../include -Wall -Werror
