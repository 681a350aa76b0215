// Package cli is what every bpfscope tool's main shares: bcc-style flag help
// with examples, the positional `interval count` arguments, one-line error
// reporting with exit status 2 for bad usage and 1 for run-time failures, and
// a context cancelled by Ctrl-C or SIGTERM so that the tool detaches and
// prints its final report before exiting 0.
package cli
