// Command tcpconnect traces TCP connects, as bcc's tcpconnect.
package main

import (
	"github.com/bpfscope/bpfscope/internal/tcpconnect"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run(tcpconnect.TCPConnect.Name, tcpconnect.TCPConnect.Main) }
