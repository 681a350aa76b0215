package kvmexit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfscope/bpfscope/pkg/cli"
)

const usage = "kvmexit [-h] [-p PID [-v VCPU | -a] ] [-t TID | -T 'TID1,TID2'] [-L] [--userspace] [duration]"

const description = `Display kvm_exit_reason and its statistics at a timed interval

Counts VM exits (kvm:kvm_exit) per vCPU thread and exit reason, named by the running
kernel's own kvm_exit tables (Intel VMX or AMD SVM). -L shows what each exit costs the
guest: the time from an exit to the next VM entry on the same thread. --userspace counts
the exits that reach the VMM (KVM_EXIT_IO, KVM_EXIT_HLT, KVM_EXIT_MMIO, ...), with the
port of each I/O exit.`

const examples = `    kvmexit                              # Display kvm_exit_reason and its statistics in real-time until Ctrl-C
    kvmexit 5                            # Display in real-time after sleeping 5s
    kvmexit -p 3195281                   # Collapse all tids for pid 3195281 with exit reasons sorted in descending order
    kvmexit -p 3195281 20                # Collapse all tids for pid 3195281 with exit reasons sorted in descending order, and display after sleeping 20s
    kvmexit -p 3195281 -v 0              # Display only vcpu0 for pid 3195281, descending sort by default
    kvmexit -p 3195281 -a                # Display all tids for pid 3195281
    kvmexit -t 395490                    # Display only for tid 395490 with exit reasons sorted in descending order
    kvmexit -t 395490 20                 # Display only for tid 395490 with exit reasons sorted in descending order after sleeping 20s
    kvmexit -T '395490,395491'           # Display for a union like {395490, 395491}
    kvmexit -L -p 3195281 10             # Histogram of exit-to-entry time per exit reason for pid 3195281
    kvmexit --userspace -p 3195281       # Count the exits that reach the VMM, with I/O ports`

// maxTIDs is MAX_TIDS in bpf/kvm/kvm.h.
const maxTIDs = 64

// Config is what the flags ask for.
type Config struct {
	PID       int
	TID       int
	TIDs      []int
	VCPU      int // -1: all
	AllTIDs   bool
	Latency   bool
	Userspace bool
	Duration  int // seconds, 0: until Ctrl-C
}

// Main parses kvmexit's flags and runs it.
func Main(ctx context.Context, env cli.Env) error {
	cfg, err := parseFlags(env)
	if err != nil {
		return err
	}
	return Run(ctx, env, cfg)
}

func parseFlags(env cli.Env) (Config, error) {
	fs := cli.NewFlagSet("kvmexit", usage, description, examples)
	fs.Positional = "  duration              show delta for next several seconds"
	cfg := Config{VCPU: -1}
	var tids string
	fs.IntVarP(&cfg.PID, "pid", "p", 0, "trace this `PID` only")
	fs.IntVarP(&cfg.TID, "tid", "t", 0, "trace this `TID` only")
	fs.StringVarP(&tids, "tids", "T", "", "trace a comma separated series of `TIDS` with no space in between")
	fs.IntVarP(&cfg.VCPU, "vcpu", "v", 0, "trace this `VCPU` only (with -p; the vcpu_id of kvm_exit)")
	fs.BoolVarP(&cfg.AllTIDs, "alltids", "a", false, "trace all tids for this pid")
	fs.BoolVarP(&cfg.Latency, "latency", "L", false, "histogram of the time from each exit to the next entry, per exit reason")
	fs.BoolVar(&cfg.Userspace, "userspace", false, "count exits to the VMM (kvm:kvm_userspace_exit), with I/O ports (kvm:kvm_pio)")
	if err := fs.Parse(env.Args, env.Stdout); err != nil {
		return cfg, err
	}
	if !fs.Changed("vcpu") {
		cfg.VCPU = -1
	}
	switch fs.NArg() {
	case 0:
	case 1:
		n, err := strconv.ParseUint(fs.Arg(0), 10, 31)
		if err != nil || n == 0 {
			return cfg, cli.Usagef("duration %q: want a whole number of seconds > 0", fs.Arg(0))
		}
		cfg.Duration = int(n)
	default:
		return cfg, cli.Usagef("too many arguments %q: want [duration]", fs.Args())
	}
	exclusive := 0
	for _, name := range []string{"tid", "tids", "vcpu", "alltids"} {
		if fs.Changed(name) {
			exclusive++
		}
	}
	if exclusive > 1 {
		return cfg, cli.Usagef("-t, -T, -v and -a exclude each other")
	}
	if fs.Changed("pid") {
		if err := cli.CheckPID(cfg.PID); err != nil {
			return cfg, err
		}
	}
	if fs.Changed("vcpu") {
		if !fs.Changed("pid") {
			return cfg, cli.Usagef("-v VCPU needs -p PID: vCPU numbers are per VM")
		}
		if cfg.VCPU < 0 {
			return cfg, cli.Usagef("vcpu %d: want a number >= 0", cfg.VCPU)
		}
	}
	if cfg.AllTIDs && !fs.Changed("pid") {
		return cfg, cli.Usagef("-a needs -p PID")
	}
	if fs.Changed("tid") {
		if cfg.TID <= 0 {
			return cfg, cli.Usagef("tid %d: want a thread id > 0", cfg.TID)
		}
	}
	if fs.Changed("tids") {
		t, err := parseTIDs(tids)
		if err != nil {
			return cfg, err
		}
		cfg.TIDs = t
	}
	if cfg.Latency && cfg.Userspace {
		return cfg, cli.Usagef("-L and --userspace exclude each other")
	}
	return cfg, nil
}

// parseTIDs parses -T's list.
func parseTIDs(s string) ([]int, error) {
	var tids []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(f, 10, 31)
		if err != nil || n == 0 {
			return nil, cli.Usagef("tid %q in -T %q: must be valid integer (comma separated, no spaces)", f, s)
		}
		tids = append(tids, int(n))
	}
	if len(tids) > maxTIDs {
		return nil, cli.Usagef("-T lists %d tids: at most %d", len(tids), maxTIDs)
	}
	return tids, nil
}

// context names what is traced, as bcc's banner does.
func (c *Config) context() string {
	switch {
	case c.TID != 0:
		return fmt.Sprintf("TID %d", c.TID)
	case len(c.TIDs) > 0:
		q := make([]string, len(c.TIDs))
		for i, t := range c.TIDs {
			q[i] = fmt.Sprintf("'%d'", t)
		}
		return "TIDS [" + strings.Join(q, ", ") + "]"
	case c.PID != 0 && c.VCPU >= 0:
		return fmt.Sprintf("PID %d VCPU %d", c.PID, c.VCPU)
	case c.PID != 0 && c.AllTIDs:
		return fmt.Sprintf("PID %d and its all threads", c.PID)
	case c.PID != 0:
		return fmt.Sprintf("PID %d", c.PID)
	}
	return "all threads"
}
