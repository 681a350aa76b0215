// Package maps reads what BPF programs leave in maps: event streams from the
// per-CPU perf buffer (bcc's BPF_PERF_OUTPUT) or the ring buffer, with the
// count of lost events, and hash maps (plain or per-CPU) read in batches
// where the kernel allows, summed across CPUs, cleared after reading and
// sorted for top-N output.
package maps
