#!/usr/bin/env bash
# Load test of `GET /api/projects/{id}` (auth + access check + one query) with wrk.
#   scripts/bench-get-project.sh sqlite|postgres [duration_secs] [connections]
# Builds the release binary, starts `studio serve` on a fresh data dir (and a fresh PostgreSQL
# schema for `postgres`), creates one project, then runs wrk against it.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
duration=${2:-20}
connections=${3:-50}
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --bin studio -q
studio="$CARGO_TARGET_DIR/release/studio"

dir=$(mktemp -d)
schema=""
cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$schema" ] && PGOPTIONS=--client-min-messages=warning psql -q "${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}" -c "DROP SCHEMA $schema CASCADE" || true
  rm -rf "$dir"
}
trap cleanup EXIT

export STUDIO_DATA_DIR="$dir/data" STUDIO_BIND=127.0.0.1:0 STUDIO_LOG_LEVEL=warn STUDIO_LOG_FORMAT=json
export STUDIO_JWT_SECRET=benchmark-secret-benchmark-secret-0123456789
case "$backend" in
  sqlite) ;;
  postgres)
    base=${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    schema="bench_$$"
    psql -q "$base" -c "CREATE SCHEMA $schema"
    export STUDIO_DATABASE_URL="$base?options=-c%20search_path%3D$schema" STUDIO_AUTO_MIGRATE=true
    ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac

"$studio" serve 2>"$dir/stderr" >/dev/null &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$dir/stderr" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$dir/stderr" | head -n1)
token=$("$studio" token bench-user)
id=$(curl -fsS -X POST "$url/api/projects" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS -o /dev/null "$url/api/projects/$id" -H "authorization: Bearer $token"

echo "backend=$backend duration=${duration}s connections=$connections url=$url/api/projects/$id"
wrk -t2 -c"$connections" -d"${duration}s" --latency -H "authorization: Bearer $token" "$url/api/projects/$id"
