#!/usr/bin/env bash
# Benchmarks, each printed next to the baseline it is compared with, measured
# in the same run: start-up time and memory of the tools, then every Go
# benchmark in the tree (BENCH selects them by regexp).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CGO_ENABLED=0 go build -trimpath -o bin/ ./tools/...
CGO_ENABLED=0 go build -trimpath -o "$out/noop" ./scripts/bench/noop
go build -o "$out/startup" ./scripts/bench/startup

echo "== start-up: exec until attached, max RSS"
"$out/startup" -n "${RUNS:-11}" -ready 'Tracing connect' -baseline "$out/noop" -- bin/tcpv4connect --json

echo
echo "== Go benchmarks"
# BenchmarkSwitchCost's b.N is a number of turns, each several thousand
# context switches per setup: it runs on its own with enough of them.
go test -run '^$' -bench "${BENCH:-.}" -skip '^BenchmarkSwitchCost$' -benchtime "${BENCHTIME:-1s}" ./...
if [[ BenchmarkSwitchCost =~ ${BENCH:-.} ]]; then
	go test -run '^$' -bench '^BenchmarkSwitchCost$' -benchtime "${SWITCH_TURNS:-200}x" ./internal/cpudist
fi
