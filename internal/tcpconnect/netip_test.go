package tcpconnect

import "net/netip"

func netipParse(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }
