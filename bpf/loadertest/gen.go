// Package loadertest holds small BPF objects that pkg/loader's and
// pkg/maps's tests load: one that works, one whose kprobe symbol no kernel
// has, and one the verifier refuses.
package loadertest

//go:generate go tool bpf2go -go-package loadertest -tags linux -target amd64 -type event Good good.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package loadertest -tags linux -target amd64 -no-global-types Missing missing.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package loadertest -tags linux -target amd64 -no-global-types Rejected rejected.bpf.c -- -I../include -Wall
