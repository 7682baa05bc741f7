#!/usr/bin/env bash
# AI chat latency, measured with `studio-load ai` (crates/studio-load/src/ai.rs): the time to
# first token (TTFT) and the total time of streamed answers from a fake OpenAI-compatible
# provider, called directly (the baseline) and through studio's `/api/ai/chat` (UI message
# stream) on a cache miss and on a cache hit. The difference between the miss and direct TTFT
# is the latency studio adds to the first token.
#
#   scripts/bench-ai.sh [--requests N] [--warmup N] [--tokens N] [--first-token-delay D]
#                       [--token-delay D] [--out FILE]
#
# Builds release, starts `studio serve` on the embedded defaults (SQLite, local storage, the
# in-process answer cache, no Redis) in a fresh temp data dir, with its OpenAI-compatible
# provider pointed at a free local port where `studio-load ai` then starts its fake
# (`--fake-addr`), and a config file raising the `free` plan's AI limits so hundreds of
# requests in a row are not refused with 429. Requests go one at a time; direct and miss
# requests alternate, the hits follow. Stops studio on exit and removes the temp dir.
#
# Defaults: 200 requests per series after 20 of warmup, 50 tokens per answer, a fake that sends
# every token at once (delays 0: the numbers are the overhead alone). The human summary goes to
# stderr, the JSON object to stdout (and appended to --out). The machine has 2 cores: studio,
# the fake and the client (one thread) share them.
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
cd "$(dirname "$0")/.."

requests=200 warmup=20 tokens=50 first_token_delay=0ms token_delay=0ms out=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --tokens) tokens=$2; shift ;;
    --first-token-delay) first_token_delay=$2; shift ;;
    --token-delay) token_delay=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) usage ;;
    *) echo "bench-ai: unknown argument $1" >&2; usage ;;
  esac
  shift
done

cargo build --release -q --bin studio
cargo build --release -q -p studio-load
studio="$CARGO_TARGET_DIR/release/studio"
load="$CARGO_TARGET_DIR/release/studio-load"

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A free port for the fake provider (bound and released here; studio-load binds it again).
fake_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$tmp/studio.toml" <<'TOML'
# The benchmark sends hundreds of requests a minute as one user.
[ai_plans.free]
concurrent_streams = 64
requests_per_minute = 1000000
tokens_per_day = 1000000000000
speech_characters_per_day = 1000000000
TOML

studio_env=(
  STUDIO_CONFIG="$tmp/studio.toml"
  STUDIO_DATA_DIR="$tmp/data"
  STUDIO_BIND=127.0.0.1:0
  STUDIO_JWT_SECRET="bench-ai-secret-$(date +%s)-0123456789abcdef"
  STUDIO_LOG_LEVEL=warn
  STUDIO_LOG_FORMAT=json
  STUDIO_MIN_FREE_TEMP_BYTES=1
  STUDIO_AI_OPENAI_BASE_URL="http://127.0.0.1:$fake_port/v1"
  STUDIO_AI_OPENAI_MODELS=gpt-bench
  STUDIO_AI_OPENAI_API_KEY=sk-bench
)
mkdir -p "$tmp/data"
# (The load tool's STUDIO_LOAD_* variables are not studio settings: studio refuses unknown ones.)
env -u STUDIO_LOAD_TOKEN -u STUDIO_LOAD_URL "${studio_env[@]}" "$studio" serve \
  >"$tmp/studio.out" 2>"$tmp/studio.err" &
pid=$!
base=""
for _ in $(seq 1 300); do
  base=$(sed -n 's/.*listening on \(http:[^ "]*\).*/\1/p' "$tmp/studio.err" | head -n1)
  [ -n "$base" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "bench-ai: studio exited:" >&2
    cat "$tmp/studio.err" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$base" ] || { echo "bench-ai: studio did not start" >&2; cat "$tmp/studio.err" >&2; exit 1; }
token=$(env -u STUDIO_LOAD_TOKEN -u STUDIO_LOAD_URL "${studio_env[@]}" "$studio" token bench-user)
echo "bench-ai: studio at $base (pid $pid), fake provider at 127.0.0.1:$fake_port" >&2

STUDIO_LOAD_TOKEN=$token "$load" --json ai --url "$base" --fake-addr "127.0.0.1:$fake_port" \
  --requests "$requests" --warmup "$warmup" --tokens "$tokens" \
  --first-token-delay "$first_token_delay" --token-delay "$token_delay" >"$tmp/result.json"
cat "$tmp/result.json"
if [ -n "$out" ]; then cat "$tmp/result.json" >>"$out"; fi
