// Package usdttest holds the BPF objects that pkg/usdt's and pkg/uprobe's
// tests load: a USDT program that records what usdt_arg reads (plain and
// sleepable), and a uprobe/uretprobe program that counts calls.
package usdttest

//go:generate go tool bpf2go -go-package usdttest -tags linux -target amd64 -type hit Usdt usdt.bpf.c -- -I../include -Wall -Werror
//go:generate go tool bpf2go -go-package usdttest -tags linux -target amd64 -no-global-types UsdtSleepable usdt.bpf.c -- -I../include -Wall -Werror -DBPFSCOPE_SLEEPABLE
//go:generate go tool bpf2go -go-package usdttest -tags linux -target amd64 -type calls Uprobe uprobe.bpf.c -- -I../include -Wall -Werror

// Hit is one probe hit as the USDT program recorded it.
type Hit = UsdtHit

// Calls is what the uprobe program counts per cookie.
type Calls = UprobeCalls

// Test constants, as in usdttest.h.
const (
	MaxHits   = 256
	CookieStr = 0x100
)
