#!/usr/bin/env bash
# `make bench`: runs the benchmarks of this package, printing them as they
# go, then writes docs/BENCHMARKS.md (or $1): the machine, the versions, the
# command, the figures against their targets, and everything the benchmarks
# printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
report=${1:-docs/BENCHMARKS.md}
command=(go test -run '^$' -bench . -benchtime 1x -count 1 -timeout 60m ./internal/bench/)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$GO" "${command[@]:1}" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "bench: the benchmarks failed; $report left as it was" >&2; exit 1; }

# java_major: the major version of the Java Keycloak ran on.
java_major() {
  local j
  for j in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -x "$j/bin/java" ] || continue
    "$j/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
  done | sort -n | tail -1
}
# metric UNIT: the value a benchmark reported with b.ReportMetric.
metric() {
  awk -v unit="$1" '/^Benchmark/ { for (i = 5; i < NF; i += 2) if ($(i+1) == unit) print $i }' "$log" | head -1
}
# row NAME VALUE TARGET CHECK: CHECK is an awk condition on v.
row() {
  local verdict=""
  [ -z "$4" ] || verdict=$(awk -v v="$2" "BEGIN { print (($4) ? \"met\" : \"**not met**\") }")
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$verdict"
}

ratio=$(metric ratio-id); bare=$(metric ratio-id-vs-bare); auditRatio=$(metric ratio-audit); limit=$(metric of-limit)
tokens=$(metric tokens/10k); p50=$(metric p50-ms); p99=$(metric p99-ms)
rss=$(metric import-rss-MB); redis=$(metric redis-peak-MB)
naive=$(metric naive-resets/s); fast=$(metric resetq-resets/s)
real=$(metric real-ratio-id); realEmail=$(metric real-ratio-email); realErrors=$(metric real-errors); real1=$(metric real-ratio-c1)
room=$(metric real-cpu-room); ceilingPace=$(metric real-ceiling/s); rqCPU=$(metric real-resetq-cpu-ms)
lookup50=$(metric lookup-p50-ms); lookup99=$(metric lookup-loaded-p99-ms); bulkPace=$(metric bulk-resets/s)

{
  cat <<EOF
# Benchmarks

Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'); run it again to replace this file with
your machine's figures. Every figure comes from one run in which the things compared ran side by
side, on the same \`redis-server\`, against the same emulator.

## Machine and versions

| | |
|---|---|
| CPU | $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs |
| memory | $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |
| system | $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s), Linux $(uname -r) |
| Go | $("$GO" env GOVERSION) |
| Redis | $(redis-server --version | sed 's/^Redis server //; s/ sha=.*//') |
| Asynq | $("$GO" list -m -f '{{.Version}}' github.com/hibiken/asynq) |
| Keycloak, Mailpit | $(sed -n 's/^const KeycloakVersion = "\(.*\)"/\1/p' internal/realidp/keycloak.go), $(sed -n 's/^const MailpitVersion = "\(.*\)"/\1/p' internal/realidp/mailpit.go) (Keycloak in dev mode, in-memory H2, Java $(java_major)) |
| resetq | $(git describe --tags --always --dirty 2>/dev/null || echo unknown) |

Command: \`${command[*]}\`

## Figures against their targets

| figure | measured | target | |
|---|---|---|---|
$(row "pipeline: resetq (user by id) ÷ Asynq no-op handler, tasks/s" "$ratio" "≥ 0.85" "v >= 0.85")
$(row "pipeline: resetq (user by id) ÷ the same I/O written by hand" "$bare" "≥ 0.85" "v >= 0.85")
$(row "pipeline: resetq (user by id) with its audit trail ÷ without" "$auditRatio" "—" "")
$(row "IdP-bound throughput ÷ the configured rate limit" "$limit" "≥ 0.95" "v >= 0.95")
$(row "token requests per 10,000 resets (5 s tokens, at 200/s)" "$tokens" "a token per refresh, not per reset" "v < 100")
$(row "idle pickup latency p50, ms" "$p50" "< 100" "v < 100")
$(row "idle pickup latency p99, ms" "$p99" "< 100" "v < 100")
$(row "1M-row campaign import: peak RSS, MB" "$rss" "≤ 64" "v <= 64")
$(row "1M-row campaign: peak Redis used_memory, MB" "$redis" "≤ 64" "v <= 64")
$(row "real Keycloak + Mailpit: resetq ÷ their ceiling (a tight loop, same concurrency), user by id" "$real" "≥ 0.95" "v >= 0.95")
$(row "real Keycloak + Mailpit: the same, user by email (lookup + reset)" "$realEmail" "≥ 0.95" "v >= 0.95")
$(row "real Keycloak + Mailpit: the same one reset at a time, by id" "$real1" "≥ 0.95" "v >= 0.95")
$(row "real Keycloak + Mailpit: resets that did not succeed, or mails missing or extra" "$realErrors" "0" "v == 0")
$(row "real Keycloak + Mailpit: the share of the ceiling the CPUs leave resetq here" "$room" "—" "")
$(row "lookup email=…&exact=true among 100,000 users, p50 alone, ms" "$lookup50" "well under timeout (30 s)" "v < 1000")
$(row "the same lookup, p99 at concurrency 20, ms" "$lookup99" "well under timeout (30 s)" "v < 3000")
$(row "resets/s against the realm of 100,000 users, by email, concurrency 20" "$bulkPace" "—" "")
$(row "resets/s at 50 ms IdP latency: resetq ÷ naive loop" "$(awk -v a="$fast" -v b="$naive" 'BEGIN { printf "%.0f", a / b }')" "faster" "v > 1")

## How to read them

- **Pipeline overhead.** Asynq's no-op handler does two Redis round trips per task (dequeue and
  acknowledge). Any reset pipeline adds at least three more: reading the task's done-marker,
  the IdP call, and writing the marker, and the emulator answering the IdP call runs on the
  same CPUs. On a machine where the emulator, Redis and the worker share few CPUs the
  comparison with the no-op measures that extra I/O, not resetq: the second row, against a
  hand-written handler doing exactly that I/O and nothing else, is what resetq's own pipeline
  (decoding, classification, retries, rate-limit and halt checks, metrics, logs, and the
  audit trail's record of each outcome, one more Redis write) costs. The third pipeline row
  shows what the audit trail alone costs, the same worker run with and without it.
  A real deployment is bound by the IdP and \`rate_limit\`, thousands of times below either
  figure.
- **IdP-bound throughput** is measured at the IdP: the times the emulator accepted each reset,
  after the first second (the limiter's burst and the workers' start).
- **Tokens** are cached and refreshed when a fifth of their life is left, without stalling
  the resets; with Keycloak's defaults (60 s master tokens, 300 s realm tokens) they are
  fewer still.
- **Against the real Keycloak** (26.7.3, started by the benchmark from \`.cache/\`, mailing a real
  Mailpit directly), a tight loop of execute-actions-email calls at the same concurrency, with
  one token and nothing else, is Keycloak's and Mailpit's own ceiling on this machine; resetq's
  whole pipeline runs against the same realm in the same run, the order alternating round by
  round, and both are measured where the mail lands (Mailpit's receive times, first to last).
  On a machine where Keycloak, Mailpit, Redis and resetq share the CPUs, Keycloak is bound by
  them (the benchmark prints how busy they were), and the CPU resetq's worker and Redis spend on
  each reset (${rqCPU} ms here) is taken from Keycloak: the "share the CPUs leave" row is the
  most any client that costs that much could reach, and resetq's figure is to be read against
  it. One reset at a time does not relieve them: Keycloak's own background work (its JIT
  compiler, still at work after thousands of requests, and its garbage collector) keeps them
  busy. A deployment runs resetq and Redis beside Keycloak, not on its CPUs.
- **The lookup** resetq makes for an email is \`GET …/users?email=…&exact=true&briefRepresentation=true&max=2\`,
  in a realm of 100,000 users imported for the benchmark; Keycloak answers it from an index.
- **Idle pickup** is from \`Enqueue\` returning to the IdP receiving the reset, with the default
  \`poll_interval\` of 50 ms (±50 % jitter).

## What the benchmarks printed

\`\`\`
$(grep -v '^go: downloading' "$log")
\`\`\`
EOF
} > "$report"
echo "bench: wrote $report"
