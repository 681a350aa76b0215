// Command funclatency times kernel or user functions and prints their
// latency as log2 histograms, as bcc's funclatency does.
package main

import (
	"github.com/bpfscope/bpfscope/internal/funclatency"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("funclatency", funclatency.Main) }
