// Command cpudist summarizes on- and off-CPU time per task as histograms, as
// bcc's cpudist.
package main

import (
	"github.com/bpfscope/bpfscope/internal/cpudist"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("cpudist", cpudist.Main) }
