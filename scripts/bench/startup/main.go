// Command startup measures how long a tool takes from exec until it is
// attached (it printed its ready line), and its maximum RSS, as the median of
// several runs, next to a baseline program measured in the same run.
//
//	startup -n 11 -ready 'Tracing' -baseline bin/noop -- bin/tcpv4connect --json
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 11, "runs per command")
	ready := flag.String("ready", "", "line (substring) the tool prints on stdout or stderr once attached")
	baseline := flag.String("baseline", "", "baseline program, run to completion")
	maxMS := flag.Float64("target-ms", 100, "target time to ready, ms")
	maxMB := flag.Float64("target-mb", 25, "target max RSS, MB")
	flag.Parse()
	if flag.NArg() == 0 || *ready == "" || *baseline == "" {
		fmt.Fprintln(os.Stderr, "usage: startup -ready LINE -baseline PROG -- TOOL [ARGS]")
		os.Exit(2)
	}
	bt, bm, err := measure(*n, []string{*baseline}, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
	tt, tm, err := measure(*n, flag.Args(), *ready)
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
	fmt.Printf("%-40s %12s %12s\n", "command (median of "+fmt.Sprint(*n)+")", "ready ms", "max RSS MB")
	fmt.Printf("%-40s %12.1f %12.1f\n", *baseline+" (baseline)", bt, bm)
	fmt.Printf("%-40s %12.1f %12.1f\n", strings.Join(flag.Args(), " "), tt, tm)
	verdict := "meets"
	if tt > *maxMS || tm > *maxMB {
		verdict = "MISSES"
	}
	fmt.Printf("%s the target of ready < %.0f ms and max RSS < %.0f MB (%.1fx the baseline's time, %.1fx its RSS)\n",
		verdict, *maxMS, *maxMB, tt/bt, tm/bm)
}

// measure runs argv n times and returns the median time to ready (or to
// exit, without a ready line) in ms and the median max RSS in MB.
func measure(n int, argv []string, ready string) (float64, float64, error) {
	var times, rss []float64
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		var out io.Reader
		if ready != "" {
			r, w := io.Pipe()
			cmd.Stdout, cmd.Stderr = w, w
			out = r
			defer w.Close()
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		var elapsed time.Duration
		if ready != "" {
			sc := bufio.NewScanner(out)
			found := false
			for sc.Scan() {
				if strings.Contains(sc.Text(), ready) {
					found = true
					break
				}
			}
			elapsed = time.Since(start)
			if !found {
				cmd.Wait()
				return 0, 0, fmt.Errorf("%s never printed %q", argv[0], ready)
			}
			go io.Copy(io.Discard, out)
			cmd.Process.Signal(os.Interrupt)
		}
		err := cmd.Wait()
		if ready == "" {
			elapsed = time.Since(start)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", argv[0], err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		times = append(times, float64(elapsed.Microseconds())/1000)
		rss = append(rss, float64(ru.Maxrss)/1024)
	}
	return median(times), median(rss), nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
