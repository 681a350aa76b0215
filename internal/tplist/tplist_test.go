package tplist

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bpfscope/bpfscope/internal/kerneltest"
)

func TestMain(m *testing.M) {
	kerneltest.RunTools(m, kerneltest.Tools{"tplist": Main})
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return kerneltest.Run(t, 30*time.Second, kerneltest.Command("tplist", args...))
}

// TestUSDT lists the probes of a library at each verbosity, as bcc's
// tplist prints them (checked against tplist-bpfcc on the same file).
func TestUSDT(t *testing.T) {
	lib := "testdata/libsdtlib.so"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", lib}, lib + " sdtlib:sema\n"},
		{[]string{"-l", lib, "sdtlib:*"}, lib + " sdtlib:sema\n"},
		{[]string{"-l", lib, "other:*"}, ""},
		{[]string{"-v", "-l", lib}, "sdtlib:sema [sema 0x4008]\n  1 location(s)\n  2 argument(s)\n"},
		{[]string{"-vv", "-l", lib}, "sdtlib:sema [sema 0x4008]\n" +
			"  location #1 " + lib + " 0x1116\n" +
			"    argument #1 4 signed   bytes @ di\n" +
			"    argument #2 8 signed   bytes @ ax\n"},
	} {
		code, out, errOut := run(t, tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("tplist %q: exit %d, stdout:\n%s\nstderr: %s\nwant:\n%s", tt.args, code, out, errOut, tt.want)
		}
	}
}

// TestUSDTProcess lists the probes of a running process: its executable's
// and its shared library's.
func TestUSDTProcess(t *testing.T) {
	if _, err := os.Stat("/lib64/ld-linux-x86-64.so.2"); errors.Is(err, os.ErrNotExist) {
		t.Skip("no dynamic linker here: the dynamically linked test program cannot run")
	}
	bin, err := filepath.Abs("testdata/sdtdyn")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("sdtdyn said %q", l)
	}
	pid := fmt.Sprint(cmd.Process.Pid)
	dir := filepath.Dir(bin)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", pid}, dir + "/sdtdyn sdtdyn:main\n" + dir + "/libsdtlib.so sdtlib:sema\n"},
		{[]string{"-p", pid, "sdtlib:*"}, dir + "/libsdtlib.so sdtlib:sema\n"},
		// -l with -p: that library only, found among those loaded.
		{[]string{"-p", pid, "-l", "sdtlib"}, dir + "/libsdtlib.so sdtlib:sema\n"},
		{[]string{"-vv", "-p", pid, "*main"}, "sdtdyn:main [sema 0x0]\n  location #1 " + dir + "/sdtdyn 0x113f\n    argument #1 4 signed   bytes @ *(sp + 12)\n"},
	} {
		code, out, errOut := run(t, tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("tplist %q: exit %d, stdout:\n%s\nstderr: %s\nwant:\n%s", tt.args, code, out, errOut, tt.want)
		}
	}
}

// TestTracepoints lists tracepoints and their fields from tracefs.
func TestTracepoints(t *testing.T) {
	kerneltest.Root(t)
	code, out, errOut := run(t, "sched:sched_process_*")
	if code != 0 || !strings.Contains(out, "sched:sched_process_exec\n") || !strings.Contains(out, "sched:sched_process_fork\n") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "sched:sched_process_") {
			t.Errorf("line %q does not match the filter", l)
		}
	}
	code, out, errOut = run(t, "-v", "sched:sched_process_exec")
	want := "sched:sched_process_exec\n    __data_loc char[] filename;\n    pid_t pid;\n    pid_t old_pid;\n"
	if code != 0 || out != want {
		t.Errorf("-v: exit %d, stdout:\n%s\nstderr: %s\nwant:\n%s", code, out, errOut, want)
	}
	code, out, _ = run(t)
	if n := strings.Count(out, "\n"); code != 0 || n < 100 {
		t.Errorf("all tracepoints: exit %d, %d lines", code, n)
	}
}

func TestErrors(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-l", "testdata/nonexistent"}, 1, "not found"},
		{[]string{"-l", "no-such-library-anywhere"}, 1, "no library"},
		{[]string{"-l", notELF}, 1, "ELF"},
		{[]string{"-p", "0"}, 2, "pid"},
		{[]string{"-p", "999999999"}, 2, "no such process"},
		{[]string{"["}, 2, "filter"},
		{[]string{"a", "b"}, 2, "unexpected argument"},
		{[]string{"--bogus"}, 2, "unknown flag"},
	} {
		code, out, errOut := run(t, tt.args...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("tplist %q: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", tt.args, code, out, errOut, tt.code, tt.msg)
		}
	}
}

func TestParseFormat(t *testing.T) {
	const format = `name: block_rq_complete
ID: 2107
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:dev_t dev;	offset:8;	size:4;	signed:0;
	field:unsigned int nr_sector;	offset:24;	size:4;	signed:0;
	field:char rwbs[10];	offset:34;	size:10;	signed:0;
	field:__data_loc char[] cmd;	offset:44;	size:4;	signed:0;
	field:broken
	field:;

print fmt: "%d", REC->dev
`
	got, err := parseFormat(strings.NewReader(format))
	if err != nil {
		t.Fatal(err)
	}
	want := []field{{"dev_t", "dev"}, {"unsigned int", "nr_sector"}, {"char", "rwbs[10]"}, {"__data_loc char[]", "cmd"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func FuzzParseFormat(f *testing.F) {
	f.Add("format:\n\tfield:dev_t dev;\toffset:8;\n\tfield:char rwbs[10];\n")
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := parseFormat(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, fl := range fields {
			if fl.name == "" || strings.HasPrefix(fl.name, "common_") || strings.ContainsAny(fl.name, " \t;") {
				t.Fatalf("field %+v", fl)
			}
		}
	})
}
