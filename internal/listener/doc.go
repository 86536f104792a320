// Package listener serves the worker's operational HTTP endpoints:
// /metrics for Prometheus, /healthz (the process is alive) and /readyz
// (Redis answers and every provider passed its start-up check or is halted
// with a reason), and the Asynq queue UI at /ui/ behind a token or a
// password.
package listener
