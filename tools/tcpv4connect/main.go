// Command tcpv4connect traces TCP IPv4 connects, as bcc's classic
// tcpv4connect example.
package main

import (
	"github.com/bpfscope/bpfscope/internal/tcpconnect"
	"github.com/bpfscope/bpfscope/pkg/cli"
)

func main() { cli.Run(tcpconnect.TCPv4Connect.Name, tcpconnect.TCPv4Connect.Main) }
