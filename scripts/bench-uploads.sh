#!/usr/bin/env bash
# Mass uploads against the embedded default and the scaled-out topology, with studio-load
# (`studio-load scenario uploads`): USERS users, started HATCH per second, each making a project
# and then uploading a generated CLIP_SECS-second 720p clip again and again for RUN_TIME
# (intent → PUT → complete → wait until `ready`). Prints the report (uploads/s, p50/p99 per step,
# errors, and the peak memory, VmHWM, of every studio process at the end).
#
#   scripts/bench-uploads.sh embedded   # one `studio serve`: SQLite, local storage, in-process worker
#   scripts/bench-uploads.sh cluster    # scripts/cluster.sh: 2 serve + 2 worker, PostgreSQL, Redis, S3
#
# Settings (environment): USERS [20] HATCH [5/s] RUN_TIME [60s] CLIP_SECS [2] RATE [no cap]
#   SCENARIOS ["uploads"]: also "browse" and "collab" (e.g. SCENARIOS="uploads browse collab")
#   BROWSE_USERS [50] COLLAB_USERS [20] COLLAB_RATE [5/s] OTHER_RUN_TIME [20s]
#   OUT: append each report's JSON object to this file
# Human summaries go to stderr, the JSON objects to stdout. The machine has 2 cores: studio, its
# workers, PostgreSQL, Redis, s3s-fs and the load tool (one thread) all share them.
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
cd "$(dirname "$0")/.."

topology=${1:-}
case "$topology" in
  embedded | cluster) ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
users=${USERS:-20} hatch=${HATCH:-5/s} run_time=${RUN_TIME:-60s} clip_secs=${CLIP_SECS:-2}
scenarios=${SCENARIOS:-uploads}
other_run_time=${OTHER_RUN_TIME:-20s}
rate_args=()
[ -n "${RATE:-}" ] && rate_args=(--rate "$RATE")

# A load test must measure the service, not its flood protection: turn rate limiting off where
# this build has it.
if grep -q '^rate_limit_enabled' crates/studio/src/config.default.toml 2>/dev/null; then
  export STUDIO_RATE_LIMIT_ENABLED=false
fi

cargo build --release -q -p studio --bin studio
cargo build --release -q -p studio-load --bin studio-load
studio="$CARGO_TARGET_DIR/release/studio"
load="$CARGO_TARGET_DIR/release/studio-load"
tmp=$(mktemp -d)
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  [ "$topology" = cluster ] && scripts/cluster.sh stop >&2
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$topology" = embedded ]; then
  secret="bench-uploads-$(date +%s)-0123456789abcdef0123456789"
  STUDIO_DATA_DIR="$tmp/data" STUDIO_BIND=127.0.0.1:0 STUDIO_JWT_SECRET="$secret" \
    STUDIO_LOG_LEVEL=warn STUDIO_LOG_FORMAT=json "$studio" serve >"$tmp/studio.out" 2>"$tmp/studio.err" &
  serve_pid=$!
  for _ in $(seq 1 300); do
    grep -q "listening on" "$tmp/studio.err" 2>/dev/null && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$tmp/studio.err" >&2; exit 1; }
    sleep 0.1
  done
  hosts=$(grep -o 'http://[0-9.:]*' "$tmp/studio.err" | head -n1)
  watch=(--server-pid "studio-serve=$serve_pid")
else
  scripts/cluster.sh start >&2
  state=${CLUSTER_DIR:-$HOME/.cache/studio-engine/cluster}
  # shellcheck disable=SC1091
  source "$state/cluster.env"
  hosts=$CLUSTER_HOSTS
  secret=$(cat "$CLUSTER_JWT_SECRET_FILE")
  watch=()
  IFS=, read -ra pids <<<"$CLUSTER_PIDS"
  for entry in "${pids[@]}"; do
    case "$entry" in s3s-fs=*) ;; *) watch+=(--server-pid "$entry") ;; esac
  done
  # Shared infrastructure, shown for completeness (not studio's own memory).
  watch+=(--server-pid "s3s-fs=${CLUSTER_PIDS##*s3s-fs=}")
fi
[ -n "$hosts" ] || { echo "bench-uploads: no studio URL" >&2; exit 1; }
echo "bench-uploads: $topology at $hosts" >&2

run() {
  STUDIO_LOAD_JWT_SECRET=$secret "$load" --json scenario "$@" --host "$hosts" "${watch[@]}" >"$tmp/report.json"
  cat "$tmp/report.json"
  if [ -n "${OUT:-}" ]; then cat "$tmp/report.json" >>"$OUT"; fi
  echo >&2
}

for scenario in $scenarios; do
  case "$scenario" in
    uploads)
      run uploads --users "$users" --hatch-rate "$hatch" --run-time "$run_time" \
        --clip-secs "$clip_secs" "${rate_args[@]}" ;;
    browse)
      run browse --users "${BROWSE_USERS:-50}" --hatch-rate 50/s --run-time "$other_run_time" ;;
    collab)
      run collab --users "${COLLAB_USERS:-20}" --hatch-rate 50/s --rate "${COLLAB_RATE:-5/s}" \
        --run-time "$other_run_time" ;;
    *) echo "bench-uploads: unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
