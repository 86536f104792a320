// Package bench holds the benchmarks `make bench` runs (report.sh writes
// their figures to docs/BENCHMARKS.md): resetq's pipeline overhead against
// an Asynq no-op handler and against the same I/O written by hand, on one
// Redis; the pickup latency of an idle worker; a million-row campaign; the
// throughput against a configured rate limit at 50 ms IdP latency, with
// the token requests it took; and resetq beside a naive sequential loop.
// It has no code of its own.
package bench
