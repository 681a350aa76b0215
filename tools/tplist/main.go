// Command tplist lists kernel tracepoints and USDT probes, as bcc's tplist.
package main

import (
	"github.com/bpfscope/bpfscope/internal/tplist"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run("tplist", tplist.Main) }
