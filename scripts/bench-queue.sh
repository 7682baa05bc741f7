#!/usr/bin/env bash
# The job queue's own numbers, on every engine and database: no-op jobs enqueued per second (one
# enqueuer, then 8), no-op jobs processed per second by one worker, and enqueue-to-start latency
# of jobs trickled to an idle worker. Runs crates/studio-queue/benches/queue.rs (release build)
# for embedded×sqlite, embedded×postgres, redis×sqlite, redis×postgres; each run isolates itself
# (temp SQLite file, fresh PostgreSQL schema, random BullMQ prefix) and cleans up. Needs the
# local PostgreSQL and Redis (STUDIO_TEST_POSTGRES_URL / STUDIO_TEST_REDIS_URL to point
# elsewhere). Prints each run, then a summary table in BENCHMARKS.md's format.
#   scripts/bench-queue.sh [jobs] [concurrency]
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
jobs=${1:-5000}
concurrency=${2:-50}
cd "$(dirname "$0")/.."
cargo bench -q -p studio-queue --bench queue --no-run
results=$(mktemp)
run=$(mktemp)
trap 'rm -f "$results" "$run"' EXIT

for engine in embedded redis; do
  for database in sqlite postgres; do
    cargo bench -q -p studio-queue --bench queue -- \
      --engine "$engine" --database "$database" --jobs "$jobs" --concurrency "$concurrency" |
      tee "$run" | grep -v '^{'
    grep '^{' "$run" >>"$results"
    echo
  done
done

python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| engine | database | enqueue, 1 enqueuer | enqueue, 8 enqueuers | processed (concurrency) "
      "| enqueue→start p50 | p95 | p99 | max |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['engine']} | {r['database']} | {r['enqueue_jobs_per_s']:,.0f}/s "
          f"| {r['enqueue_concurrent_jobs_per_s']:,.0f}/s "
          f"| {r['process_jobs_per_s']:,.0f}/s ({r['concurrency']}) "
          f"| {r['latency_p50_ms']:.1f} ms | {r['latency_p95_ms']:.1f} ms "
          f"| {r['latency_p99_ms']:.1f} ms | {r['latency_max_ms']:.1f} ms |")
EOF
