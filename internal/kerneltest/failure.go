package kerneltest

import (
	"strings"
	"testing"
	"time"
)

// ExpectFailure runs tool with args and fails the test unless it exits with
// status (2 for bad usage, 1 for a run-time failure) after printing one
// line on stderr that contains want, and nothing on stdout.
func ExpectFailure(t testing.TB, status int, want, tool string, args ...string) {
	t.Helper()
	st, stdout, stderr := Run(t, 60*time.Second, Command(tool, args...))
	if st != status || !strings.Contains(stderr, want) {
		t.Errorf("%s %q: exit %d, stderr %q; want exit %d and ...%s...", tool, args, st, stderr, status, want)
	}
	if strings.Count(stderr, "\n") != 1 || stdout != "" {
		t.Errorf("%s %q: want one line on stderr, nothing on stdout; got stdout %q, stderr %q", tool, args, stdout, stderr)
	}
}
