// Command kvmexit displays VM exit reasons and their statistics (bcc's
// kvmexit).
package main

import (
	"github.com/bpfscope/bpfscope/internal/kvmexit"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("kvmexit", kvmexit.Main) }
