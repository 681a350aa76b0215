// Command funccount counts calls of kernel functions, tracepoints, user
// functions and USDT probes matching a pattern, as bcc's funccount, with
// the counting program generated in process.
package main

import (
	"github.com/bpfscope/bpfscope/internal/funccount"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("funccount", funccount.Main) }
