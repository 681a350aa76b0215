package kvmguest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

// Main runs the guest as a command, for tests that want it in a process of
// its own (kerneltest.RunTools) and for trying the KVM tools by hand:
//
//	kvmguest --vcpus 2 --outs 3 --iterations 1000 --wait
//
// It prints one "vcpu ID tid TID port PORT" line per vCPU and "ready",
// waits for SIGUSR1 if --wait is given, runs, and prints the exits each vCPU
// made.
func Main(ctx context.Context, env cli.Env) error {
	fs := cli.NewFlagSet("kvmguest", "kvmguest [-h] [--vcpus N] [--outs N] [--iterations N] [--port PORT] [--hypercalls] [--wait] [--linger SECS]",
		"Run a tiny KVM guest that writes --outs times to an I/O port and halts, --iterations times,\non each vCPU; print the exits it saw.", "")
	var (
		cfg    Config
		port   uint
		wait   bool
		linger uint
	)
	fs.IntVar(&cfg.VCPUs, "vcpus", 1, "vCPUs")
	fs.IntVar(&cfg.Outs, "outs", 3, "OUTs per iteration")
	fs.IntVar(&cfg.Iterations, "iterations", 1, "iterations (HLT exits) per vCPU")
	fs.UintVar(&port, "port", DefaultPort, "port of vCPU 0 (vCPU i uses PORT+i)")
	fs.BoolVar(&cfg.Hypercalls, "hypercalls", false, "end each iteration with a hypercall (KVM_HC_VAPIC_POLL_IRQ)")
	fs.BoolVar(&wait, "wait", false, "wait for SIGUSR1 before running the guest")
	fs.UintVar(&linger, "linger", 0, "seconds to stay alive after the guest ran")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return err
	}
	if port == 0 || port > 0xffff {
		return cli.Usagef("port %d: want 1-65535", port)
	}
	cfg.Port = uint16(port)
	var usr1 chan os.Signal
	if wait {
		usr1 = make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
	}
	g, err := New(cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	cfg = g.Config()
	for i, tid := range g.TIDs() {
		fmt.Fprintf(env.Stdout, "vcpu %d tid %d port %#x\n", i, tid, cfg.Port+uint16(i))
	}
	fmt.Fprintf(env.Stdout, "pid %d ready\n", os.Getpid())
	if wait {
		select {
		case <-usr1:
		case <-ctx.Done():
			return nil
		}
	}
	res, err := g.Run()
	if err != nil {
		return err
	}
	for _, v := range res.VCPUs {
		fmt.Fprintf(env.Stdout, "vcpu %d tid %d:", v.ID, v.TID)
		reasons := make([]uint32, 0, len(v.Exits))
		for r := range v.Exits {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			fmt.Fprintf(env.Stdout, " %s %d", ExitName(r), v.Exits[r])
		}
		fmt.Fprintln(env.Stdout)
	}
	fmt.Fprintln(env.Stdout, "done")
	select {
	case <-time.After(time.Duration(linger) * time.Second):
	case <-ctx.Done():
	}
	return nil
}
