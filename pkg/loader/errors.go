package loader

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
)

var (
	// ErrNotPermitted means the process lacks root or CAP_BPF and CAP_PERFMON.
	ErrNotPermitted = errors.New("tracing needs root, or CAP_BPF and CAP_PERFMON")
	// ErrNoBTF means the kernel exposes no BTF at /sys/kernel/btf/vmlinux.
	ErrNoBTF = errors.New("kernel has no BTF (/sys/kernel/btf/vmlinux); bpfscope needs a kernel built with CONFIG_DEBUG_INFO_BTF=y")
	// ErrSymbolNotFound means a kernel function is not in /proc/kallsyms.
	ErrSymbolNotFound = errors.New("kernel symbol not found")
	// ErrNotSupported means the kernel lacks a feature a backend needs.
	ErrNotSupported = errors.New("not supported by this kernel")
	// ErrUnknownBackend means a forced backend is not in the plan.
	ErrUnknownBackend = errors.New("unknown backend")
)

// verifierLogLines is how many lines of the verifier log an error keeps.
const verifierLogLines = 8

// VerifierError is returned when the kernel's verifier rejects a program. It
// keeps only the last lines of the log, which name the reason.
type VerifierError struct {
	Program string
	Log     []string
	Err     error
}

func (e *VerifierError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verifier rejected program %s: %v", e.Program, e.cause())
	for _, l := range e.Log {
		b.WriteString("\n\t")
		b.WriteString(l)
	}
	return b.String()
}

func (e *VerifierError) cause() error {
	var ve *ebpf.VerifierError
	if errors.As(e.Err, &ve) {
		return ve.Cause
	}
	return e.Err
}

func (e *VerifierError) Unwrap() error { return e.Err }

// asVerifierError turns a cilium/ebpf verifier error into a VerifierError
// holding the log's last lines; other errors are returned unchanged.
func asVerifierError(err error) error {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return err
	}
	prog := programName(err)
	return &VerifierError{Program: prog, Log: verifierTail(ve.Log), Err: err}
}

// reasonLine matches the lines in which verifiers state why they refuse.
var reasonLine = regexp.MustCompile(`(?i)invalid|unknown|not allowed|out of bounds|unreleased|expected|unbounded|too (large|many|complex)|^error`)

// verifierTail keeps the last lines of a verifier log, without the trailing
// statistics, and the last line stating a reason if that is further up
// (newer kernels follow it with an annotated listing and a suggestion).
func verifierTail(log []string) []string {
	for len(log) > 0 {
		l := strings.TrimSpace(log[len(log)-1])
		if l != "" && !strings.HasPrefix(l, "processed ") && !strings.HasPrefix(l, "verification time") && !strings.HasPrefix(l, "stack depth") {
			break
		}
		log = log[:len(log)-1]
	}
	if len(log) <= verifierLogLines {
		return log
	}
	tail := log[len(log)-verifierLogLines:]
	for i := len(log) - verifierLogLines - 1; i >= 0; i-- {
		if reasonLine.MatchString(strings.TrimSpace(log[i])) {
			if !slices.ContainsFunc(tail, reasonLine.MatchString) {
				tail = append([]string{log[i], "..."}, tail[2:]...)
			}
			break
		}
	}
	return tail
}

// programName digs the program name out of cilium/ebpf's "program NAME: ..."
// wrapping.
func programName(err error) string {
	s := err.Error()
	if i := strings.Index(s, "program "); i >= 0 {
		rest := s[i+len("program "):]
		if j := strings.IndexAny(rest, ": "); j > 0 {
			return rest[:j]
		}
	}
	return "?"
}
