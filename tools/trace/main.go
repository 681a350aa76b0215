// Command trace prints a line per hit of kernel and user functions,
// tracepoints and USDT probes, with a message formatted from their
// arguments, as bcc's trace, with the probes compiled to BPF in process.
package main

import (
	"github.com/bpfscope/bpfscope/internal/trace"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("trace", trace.Main) }
