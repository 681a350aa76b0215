//go:build linux

// Command init is PID 1 of the vmtest guest (see scripts/vmtest/run.sh and
// docs/vmtest.md).
//
// It mounts the pseudo file systems the tests need, brings up the loopback
// interface, loads the kernel modules listed on the kernel command line, runs
// every test binary listed in /tests/manifest with its package directory as
// working directory, prints a result marker line on the console and powers
// the machine off. It never returns: returning from (or panicking in) PID 1
// would panic the kernel.
//
// Settings are read from the kernel command line (/proc/cmdline):
//
//	bpfscope.absent=a,b     features the kernel lacks: BPFSCOPE_TEST_ABSENT
//	bpfscope.strict=0|1     export BPFSCOPE_TEST_STRICT=1 (default 1)
//	bpfscope.run=REGEXP     passed to every binary as -test.run
//	bpfscope.skip=REGEXP    passed to every binary as -test.skip
//	bpfscope.short=1        pass -test.short
//	bpfscope.timeout=DUR    per-binary -test.timeout (default 3m)
//	bpfscope.modules=a,b    modules to load in order from /lib/modules/NAME.ko
//	bpfscope.env.K=V        extra environment variable K=V for the tests
//	bpfscope.label=NAME     kernel label, only printed
//	MOD.PARAM=VALUE         module parameters, passed to finit_module when
//	                        module MOD is loaded (as modprobe does)
//
// Values may be double-quoted ("a b") to contain spaces. Besides the settings
// above, the tests get BPFSCOPE_IN_VM=1, BPFSCOPE_VM_KERNEL (uname -r) and
// BPFSCOPE_VM_MODULES (the modules list).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	markerPrefix   = "BPFSCOPE-VMTEST-"
	manifestPath   = "/tests/manifest"
	srcRoot        = "/src"
	modulesDir     = "/lib/modules"
	defaultTimeout = 3 * time.Minute
	// killGrace is how long a binary may outlive its -test.timeout (which
	// makes it panic with a goroutine dump) before it is killed.
	killGrace = 30 * time.Second
)

var console = os.Stdout

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vmtest init: must run as PID 1 inside the test VM")
		os.Exit(2)
	}
	result := "FAIL init"
	func() {
		defer func() {
			if r := recover(); r != nil {
				logf("init: panic: %v\n%s", r, debug.Stack())
				result = "FAIL init-panic"
			}
		}()
		result = run()
	}()
	fmt.Fprintf(console, "%sRESULT: %s\n", markerPrefix, result)
	powerOff()
}

func logf(format string, args ...any) {
	fmt.Fprintf(console, "vmtest: "+format+"\n", args...)
}

type config struct {
	label   string
	absent  string
	strict  bool
	run     string
	skip    string
	short   bool
	timeout time.Duration
	modules []string
	env     []string
	// params holds MOD.PARAM=VALUE settings, keyed by normalized module name.
	params map[string][]string
}

// run does the work of init and returns the result ("PASS" or "FAIL names").
func run() string {
	var failed []string
	fail := func(name string) { failed = append(failed, name) }

	if err := mountAll(); err != nil {
		logf("%v", err)
		fail("init-mount")
	}
	ensureConsole()

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		logf("reading /proc/cmdline: %v", err)
	}
	cfg, err := parseCmdline(string(cmdline))
	if err != nil {
		logf("%v", err)
		fail("init-cmdline")
	}

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	fmt.Fprintf(console, "%sINIT: label=%s kernel=%s version=%q cpus=%d uptime=%s\n",
		markerPrefix, cfg.label, release, unix.ByteSliceToString(uts.Version[:]),
		runtime.NumCPU(), uptime())

	_ = unix.Sethostname([]byte("vmtest"))
	if err := linkUp("lo"); err != nil {
		logf("bringing up lo: %v", err)
		fail("init-loopback")
	}
	for _, m := range cfg.modules {
		if err := loadModule(m, cfg.params[normModule(m)]); err != nil {
			logf("loading module %s: %v", m, err)
			fail("module:" + m)
		}
	}

	tests, err := readManifest()
	if err != nil {
		logf("%v", err)
		fail("init-manifest")
	}
	env := testEnv(cfg, release)
	for _, t := range tests {
		if !runTest(t, cfg, env) {
			fail(t.name)
		}
	}
	if len(failed) > 0 {
		return "FAIL " + strings.Join(failed, " ")
	}
	return "PASS"
}

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	optional               bool
}

var mounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", false},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666", true},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", true},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", false},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", true},
	{"tracefs", "/sys/kernel/tracing", "tracefs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"debugfs", "/sys/kernel/debug", "debugfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
	{"bpf", "/sys/fs/bpf", "bpf", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "mode=0700", false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", false},
}

func mountAll() error {
	var errs []error
	for _, m := range mounts {
		err := os.MkdirAll(m.target, 0o755)
		if err == nil {
			err = unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		}
		if err != nil && !m.optional {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	for _, d := range []string{"/root", "/var/tmp"} {
		_ = os.MkdirAll(d, 0o755)
	}
	return errors.Join(errs...)
}

// ensureConsole makes sure fds 0-2 are open. The initramfs carries a
// /dev/console node so the kernel normally opens it for us; if it could not,
// open the devtmpfs one.
func ensureConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// splitCmdline splits a kernel command line like the kernel does: on spaces,
// except inside double quotes, which are removed.
func splitCmdline(s string) []string {
	var (
		args  []string
		cur   strings.Builder
		quote bool
		have  bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quote = !quote
			have = true
		case !quote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func normModule(name string) string { return strings.ReplaceAll(name, "-", "_") }

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseCmdline(s string) (*config, error) {
	cfg := &config{strict: true, timeout: defaultTimeout, params: map[string][]string{}}
	var errs []error
	for _, arg := range splitCmdline(s) {
		key, val, ok := strings.Cut(arg, "=")
		if !ok {
			continue
		}
		switch {
		case key == "bpfscope.label":
			cfg.label = val
		case key == "bpfscope.absent":
			cfg.absent = strings.Join(splitList(val), ",")
		case key == "bpfscope.strict":
			cfg.strict = val != "0" && val != "false" && val != "no"
		case key == "bpfscope.run":
			cfg.run = val
		case key == "bpfscope.skip":
			cfg.skip = val
		case key == "bpfscope.short":
			cfg.short = val == "1" || val == "true" || val == "yes"
		case key == "bpfscope.timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("bad bpfscope.timeout=%q", val))
				continue
			}
			cfg.timeout = d
		case key == "bpfscope.modules":
			cfg.modules = splitList(val)
		case strings.HasPrefix(key, "bpfscope.env."):
			cfg.env = append(cfg.env, strings.TrimPrefix(key, "bpfscope.env.")+"="+val)
		case strings.HasPrefix(key, "bpfscope."):
			errs = append(errs, fmt.Errorf("unknown setting %s", key))
		default:
			mod, param, ok := strings.Cut(key, ".")
			if ok && mod != "" && param != "" {
				p := param + "=" + val
				if strings.ContainsAny(val, " \t") {
					p = param + "=\"" + val + "\""
				}
				cfg.params[normModule(mod)] = append(cfg.params[normModule(mod)], p)
			}
		}
	}
	return cfg, errors.Join(errs...)
}

// linkUp sets IFF_UP on an interface. For lo the kernel then adds 127.0.0.1/8
// and ::1 by itself.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// loadModule loads /lib/modules/NAME.ko (NAME with '-' or '_') with
// finit_module. A module that is already loaded or built in is not an error.
func loadModule(name string, params []string) error {
	var f *os.File
	var err error
	for _, n := range []string{name, normModule(name), strings.ReplaceAll(name, "_", "-")} {
		f, err = os.Open(filepath.Join(modulesDir, n+".ko"))
		if err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	p := strings.Join(params, " ")
	start := time.Now()
	err = unix.FinitModule(int(f.Fd()), p, 0)
	if errors.Is(err, unix.EEXIST) {
		logf("module %s: already loaded", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("finit_module(%s, %q): %w", f.Name(), p, err)
	}
	logf("module %s loaded (%q) in %s", name, p, time.Since(start).Round(time.Millisecond))
	return nil
}

type testBinary struct {
	name string // binary is /tests/NAME.test
	dir  string // package directory relative to the module root
}

// readManifest reads /tests/manifest: one "NAME DIR" line per test binary.
func readManifest() ([]testBinary, error) {
	f, err := os.Open(manifestPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var tests []testBinary
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s: bad line %q", manifestPath, sc.Text())
		}
		tests = append(tests, testBinary{name: fields[0], dir: fields[1]})
	}
	return tests, sc.Err()
}

func testEnv(cfg *config, release string) []string {
	env := []string{
		"PATH=/tests:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"TMPDIR=/tmp",
		"GOTRACEBACK=all",
		"BPFSCOPE_IN_VM=1",
		"BPFSCOPE_VM_KERNEL=" + release,
		"BPFSCOPE_TEST_ABSENT=" + cfg.absent,
	}
	if cfg.strict {
		env = append(env, "BPFSCOPE_TEST_STRICT=1")
	}
	if len(cfg.modules) > 0 {
		env = append(env, "BPFSCOPE_VM_MODULES="+strings.Join(cfg.modules, ","))
	}
	return append(env, cfg.env...)
}

// runTest runs one test binary and reports whether it passed.
func runTest(t testBinary, cfg *config, env []string) bool {
	bin := "/tests/" + t.name + ".test"
	dir := filepath.Join(srcRoot, t.dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("%s: %v", t.name, err)
		return false
	}
	args := []string{"-test.v", "-test.timeout=" + cfg.timeout.String()}
	if cfg.run != "" {
		args = append(args, "-test.run="+cfg.run)
	}
	if cfg.skip != "" {
		args = append(args, "-test.skip="+cfg.skip)
	}
	if cfg.short {
		args = append(args, "-test.short")
	}
	fmt.Fprintf(console, "%sSTART: %s dir=%s args=%q\n", markerPrefix, t.name, t.dir, args)

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	err := cmd.Start()
	if err == nil {
		pgid := cmd.Process.Pid
		killer := time.AfterFunc(cfg.timeout+killGrace, func() {
			logf("%s: still running %s after its timeout, killing it", t.name, killGrace)
			_ = unix.Kill(-pgid, unix.SIGKILL)
		})
		err = cmd.Wait()
		killer.Stop()
		// Kill what the test left behind in its process group and reap
		// orphans that were reparented to us.
		_ = unix.Kill(-pgid, unix.SIGKILL)
		reapZombies()
	}
	status := "PASS"
	if err != nil {
		status = "FAIL"
		logf("%s: %v", t.name, err)
	}
	fmt.Fprintf(console, "%sBINARY: %s %s %.2fs\n", markerPrefix, t.name, status,
		time.Since(start).Seconds())
	return err == nil
}

func reapZombies() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// powerOff flushes the console and powers the machine off. It never returns.
func powerOff() {
	unix.Sync()
	// tcdrain: wait until the serial driver has sent everything, or the
	// result marker may be lost when the machine goes away.
	_ = unix.IoctlSetInt(int(console.Fd()), unix.TCSBRK, 1)
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf("power off: %v", err)
	// qemu runs with -no-reboot, so a restart ends it as well.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	for {
		time.Sleep(time.Hour)
	}
}
