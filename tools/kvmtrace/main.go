// Command kvmtrace traces KVM VM exits, entries and hypercalls (bcc's
// classic kvm_hypercall.py example made a tool).
package main

import (
	"github.com/bpfscope/bpfscope/internal/kvmtrace"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("kvmtrace", kvmtrace.Main) }
