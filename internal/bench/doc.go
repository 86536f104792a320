// Package bench holds the benchmarks `make bench` prints: resetq's pipeline
// overhead against an Asynq no-op handler on the same Redis, and the pickup
// latency of an idle worker. It has no code of its own.
package bench
