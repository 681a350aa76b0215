// Command argdist shows the distribution of a function's parameter values
// as a histogram or frequency count, as bcc's argdist, with the probes
// compiled to BPF in process.
package main

import (
	"github.com/bpfscope/bpfscope/internal/argdist"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("argdist", argdist.Main) }
