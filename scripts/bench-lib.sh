# Shared by the benchmark scripts: build studio, start it on a fresh data dir (SQLite, local
# storage) or a fresh PostgreSQL schema, and stop it on exit. Source it; it defines
#   start_studio <sqlite|postgres> [extra env assignments…]   → sets $url, $pid, $dir, $studio
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --bin studio -q
studio="$CARGO_TARGET_DIR/release/studio"
dir=$(mktemp -d)
schema=""
pg_base=${STUDIO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

cleanup() {
  [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$schema" ] && PGOPTIONS=--client-min-messages=warning psql -q "$pg_base" -c "DROP SCHEMA $schema CASCADE" || true
  rm -rf "$dir"
}
trap cleanup EXIT

start_studio() {
  local backend=$1; shift
  export STUDIO_DATA_DIR="$dir/data" STUDIO_BIND=127.0.0.1:0 STUDIO_LOG_LEVEL=warn STUDIO_LOG_FORMAT=json
  export STUDIO_JWT_SECRET=benchmark-secret-benchmark-secret-0123456789
  case "$backend" in
    sqlite) ;;
    postgres)
      schema="bench_$$"
      psql -q "$pg_base" -c "CREATE SCHEMA $schema"
      export STUDIO_DATABASE_URL="$pg_base?options=-c%20search_path%3D$schema" STUDIO_AUTO_MIGRATE=true
      ;;
    *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
  esac
  for assignment in "$@"; do export "${assignment?}"; done
  "$studio" serve 2>"$dir/stderr" >/dev/null &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$dir/stderr" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$dir/stderr" | head -n1)
  token=$("$studio" token bench-user)
}

# Peak resident memory of the studio process so far, in MiB.
peak_rss_mib() {
  awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

create_project() {
  curl -fsS -X POST "$url/api/projects" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"bench"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
