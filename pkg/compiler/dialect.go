package compiler

import (
	"github.com/cilium/ebpf/asm"

	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/probespec"
)

// traceVars are bcc trace's lowercase special variables and the names
// they stand for: bcc's $pid is the thread id and $tgid the process id.
var traceVars = map[string]string{
	"pid":  "TID",
	"tgid": "PID",
	"uid":  "UID",
	"gid":  "GID",
	"cpu":  "CPU",
	"comm": "COMM",
}

// traceIdent resolves bcc trace's names that are not parameters: argN,
// the Nth parameter (a u64 register or context slot where the signature
// and BTF do not say more), and retval. ok is false for other names.
func (k *checker) traceIdent(e *probespec.Ident) (op operand, ok bool, err error) {
	h := k.h
	if e.Name == "retval" && (h.kind == hookKprobe || h.kind == hookFentry || h.kind == hookUprobe) {
		op, err := k.variable(&probespec.Var{Name: "retval", VarPos: e.NamePos, VarEnd: e.End()})
		return op, true, err
	}
	n, isArg := argIndex(e.Name)
	if !isArg || h.kind == hookTracepoint || h.kind == hookUSDT {
		return operand{}, false, nil
	}
	if h.ret {
		return operand{}, true, k.errorf(e.Pos(), "%s is a parameter: a return probe sees retval only (bcc's trace reads parameters at entry, with p:)", e.Name)
	}
	if n <= len(h.args) {
		op, err := k.argOperand(e.Pos(), h.args[n-1])
		return op, true, err
	}
	a := arg{name: e.Name, typ: tU64, pos: e.Pos()}
	if h.kind == hookFentry {
		return operand{}, true, k.errorf(e.Pos(), "%s: %s has %d parameters in BTF", e.Name, h.probe.Function, len(h.args))
	}
	k.c.ptRegsArg(&a, n-1)
	op, err = k.argOperand(e.Pos(), a)
	return op, true, err
}

// argIndex parses "arg1".."arg6".
func argIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "arg")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 6 || s != strconv.Itoa(n) {
		return 0, false
	}
	return n, true
}

// exclude drops the events of process pid (0: none).
func (g *progGen) exclude(pid int) {
	if pid == 0 {
		return
	}
	g.note("leave out process " + strconv.Itoa(pid))
	g.call(asm.FnGetCurrentPidTgid)
	g.emit(asm.RSh.Imm(asm.R0, 32), asm.JEq.Imm(asm.R0, int32(pid), g.exit))
}
