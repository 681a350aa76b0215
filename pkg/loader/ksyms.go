package loader

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
)

// cloneSuffix matches the names GCC gives to specialised copies of a
// function: .isra.N, .constprop.N, .part.N, possibly stacked.
var cloneSuffix = regexp.MustCompile(`^(\.(isra|constprop|part)\.\d+)+$`)

var (
	ksymsOnce sync.Once
	ksyms     map[string]struct{}
	ksymsErr  error
)

// ResolveKernelSymbol returns the name to attach a kprobe to for the kernel
// function fn: fn itself if /proc/kallsyms has it, else its first compiler
// clone (fn.isra.0, fn.constprop.0, fn.part.0). It returns an error wrapping
// ErrSymbolNotFound if there is neither.
func ResolveKernelSymbol(fn string) (string, error) {
	ksymsOnce.Do(func() {
		f, err := os.Open("/proc/kallsyms")
		if err != nil {
			ksymsErr = fmt.Errorf("read kallsyms: %w", err)
			return
		}
		defer f.Close()
		ksyms, ksymsErr = parseKallsyms(f)
	})
	if ksymsErr != nil {
		return "", ksymsErr
	}
	return resolveIn(ksyms, fn)
}

func resolveIn(syms map[string]struct{}, fn string) (string, error) {
	if _, ok := syms[fn]; ok {
		return fn, nil
	}
	var best string
	for name := range syms {
		rest, ok := strings.CutPrefix(name, fn)
		if !ok || !cloneSuffix.MatchString(rest) {
			continue
		}
		if best == "" || name < best {
			best = name
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s: %w", fn, ErrSymbolNotFound)
	}
	return best, nil
}

// parseKallsyms returns the text (function) symbols of a kallsyms listing.
func parseKallsyms(r io.Reader) (map[string]struct{}, error) {
	syms := make(map[string]struct{}, 1<<17)
	s := bufio.NewScanner(r)
	for s.Scan() {
		// ffffffff81000000 T _stext [module]
		fields := strings.Fields(s.Text())
		if len(fields) < 3 {
			continue
		}
		switch fields[1] {
		case "t", "T", "w", "W":
			syms[fields[2]] = struct{}{}
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("parse kallsyms: %w", err)
	}
	return syms, nil
}
