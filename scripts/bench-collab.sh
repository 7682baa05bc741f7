#!/usr/bin/env bash
# Collaboration load numbers, measured with studio-load (crates/studio-load) over the y-websocket
# protocol: idle connections (N over K rooms, each synced; server RSS per connection), relay
# latency (50 clients × 20 updates/s in one room: p50/p90/p99/max, missing deliveries) and relay
# throughput (senders as fast as the server relays: deliveries/s).
#
#   scripts/bench-collab.sh --url ws://HOST:PORT/api/collab --room ROOM [--token JWT] [--server-pid PID] [options]
#   scripts/bench-collab.sh reference [options]
#   scripts/bench-collab.sh studio [options]
#
# `reference` measures the reference Node server, @y/websocket-server 0.1.1
# (tests/collab/reference-server.mjs; it ignores tokens and takes the room from the path), the
# same way; a fresh server process for each measurement, so each RSS and CPU figure is its own.
# Without that file (yet) it runs an equivalent minimal server from ~/.cache/studio-engine.
# `studio` does the same with the release `studio serve` on the embedded defaults (SQLite, a fresh
# data dir per measurement), a project made for the run and a token for its owner; the per-
# connection message limit is raised (STUDIO_COLLAB_MESSAGES_PER_SECOND) so the throughput
# senders are not closed for flooding.
#
# Options (defaults in brackets):
#   --clients N [50] --rate R [20] --duration D [10s] --warmup D [3s]     relay
#   --throughput-clients N [10] --window N [16]                          throughput
#   --connections N [3000] --idle-rooms K [10] --ramp R [500/s] --hold D [10s]   idle
#   --out FILE: also append each measurement's JSON object to FILE
# Idle rooms are ROOM-0 … ROOM-(K-1); put `{}` in --room to place the number elsewhere, or use
# --idle-rooms 1 for a server that only admits ROOM. The token reaches studio-load through
# STUDIO_LOAD_TOKEN, not its command line. Human summaries go to stderr, JSON lines to stdout.
# The machine has 2 cores: server and load tool share them (studio-load uses one thread).
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
cd "$(dirname "$0")/.."

mode=external
url="" room="" token="" server_pid="" out=""
clients=50 rate=20 duration=10s warmup=3s
throughput_clients=10 window=16
connections=3000 idle_rooms=10 ramp=500/s hold=10s
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    reference) mode=reference ;;
    studio) mode=studio ;;
    --url) url=$2; shift ;;
    --room) room=$2; shift ;;
    --token) token=$2; shift ;;
    --server-pid) server_pid=$2; shift ;;
    --clients) clients=$2; shift ;;
    --rate) rate=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --throughput-clients) throughput_clients=$2; shift ;;
    --window) window=$2; shift ;;
    --connections) connections=$2; shift ;;
    --idle-rooms) idle_rooms=$2; shift ;;
    --ramp) ramp=$2; shift ;;
    --hold) hold=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) usage ;;
    *) echo "bench-collab: unknown argument $1" >&2; usage ;;
  esac
  shift
done
if [ "$mode" = external ] && { [ -z "$url" ] || [ -z "$room" ]; }; then
  echo "bench-collab: --url and --room are required (or use: bench-collab.sh reference)" >&2
  exit 2
fi
[ "$mode" = reference ] && room=${room:-bench}
if [ "$mode" = studio ]; then
  cargo build --release -q --bin studio
  studio_bin="$CARGO_TARGET_DIR/release/studio"
  studio_secret="bench-collab-secret-$(date +%s)-0123456789abcdef"
fi
if [ -n "$token" ]; then export STUDIO_LOAD_TOKEN=$token; fi

cargo build --release -q -p studio-load
load="$CARGO_TARGET_DIR/release/studio-load"
tmp=$(mktemp -d)
ref_pid=""
stop_reference() {
  if [ -n "$ref_pid" ]; then
    kill -TERM "$ref_pid" 2>/dev/null || true
    wait "$ref_pid" 2>/dev/null || true
    ref_pid=""
  fi
}
trap 'stop_reference; rm -rf "$tmp"' EXIT

# The reference server: tests/collab/reference-server.mjs with its own package.json, or, until
# that exists, the same few lines against the same pinned packages in a cache directory.
prepare_reference() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  fi
  ref_dir=tests/collab
  ref_script=reference-server.mjs
  if [ -f "$ref_dir/$ref_script" ]; then
    if [ ! -d "$ref_dir/node_modules" ]; then
      if [ -f "$ref_dir/package-lock.json" ]; then
        (cd "$ref_dir" && npm ci --no-audit --no-fund --loglevel=error)
      else
        (cd "$ref_dir" && npm install --no-audit --no-fund --loglevel=error)
      fi
    fi
    return
  fi
  ref_dir="$HOME/.cache/studio-engine/collab-reference"
  ref_script=server.mjs
  echo "bench-collab: no tests/collab/$ref_script yet; using a minimal reference server in $ref_dir" >&2
  mkdir -p "$ref_dir"
  if [ ! -d "$ref_dir/node_modules/@y/websocket-server" ]; then
    (cd "$ref_dir" && { [ -f package.json ] || echo '{"private":true,"type":"module"}' >package.json; } &&
      npm install --no-audit --no-fund --loglevel=error @y/websocket-server@0.1.1 yjs@13.6 ws@8)
  fi
  cat >"$ref_dir/$ref_script" <<'JS'
// @y/websocket-server's own connection handler behind a plain `ws` server on a free port.
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'
const server = http.createServer((_req, res) => { res.writeHead(200); res.end('okay') })
const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req)))
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `ws://127.0.0.1:${server.address().port}` })))
JS
}

# Starts a fresh reference server; sets $url and $server_pid.
start_reference() {
  stop_reference
  (cd "$ref_dir" && exec node "$ref_script" --port 0 --host 127.0.0.1) >"$tmp/ref.out" 2>"$tmp/ref.err" &
  ref_pid=$!
  for _ in $(seq 1 100); do
    grep -q '"url"' "$tmp/ref.out" 2>/dev/null && break
    if ! kill -0 "$ref_pid" 2>/dev/null; then
      echo "bench-collab: the reference server exited:" >&2
      cat "$tmp/ref.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  url=$(sed -n 's/.*"url" *: *"\([^"]*\)".*/\1/p' "$tmp/ref.out" | head -n1)
  [ -n "$url" ] || { echo "bench-collab: the reference server printed no URL" >&2; exit 1; }
  server_pid=$ref_pid
  sleep 0.5 # let the fresh process settle before its RSS is read
}

# Starts a fresh `studio serve` with a project; sets $url, $room, $server_pid and the token.
start_studio() {
  stop_reference
  local data="$tmp/studio-$RANDOM"
  mkdir -p "$data"
  # (The load tool's STUDIO_LOAD_* variables are not studio settings: studio refuses unknown ones.)
  env -u STUDIO_LOAD_TOKEN -u STUDIO_LOAD_URL \
    STUDIO_DATA_DIR="$data" STUDIO_BIND=127.0.0.1:0 STUDIO_JWT_SECRET="$studio_secret" \
    STUDIO_LOG_LEVEL=warn STUDIO_LOG_FORMAT=json STUDIO_MIN_FREE_TEMP_BYTES=1 \
    STUDIO_COLLAB_MESSAGES_PER_SECOND=1000000 STUDIO_COLLAB_MESSAGE_BURST=1000000 \
    "$studio_bin" serve >"$tmp/studio.out" 2>"$tmp/studio.err" &
  ref_pid=$!
  local base=""
  for _ in $(seq 1 300); do
    base=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/studio.err" | head -n1)
    [ -n "$base" ] && break
    if ! kill -0 "$ref_pid" 2>/dev/null; then
      echo "bench-collab: studio exited:" >&2
      cat "$tmp/studio.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$base" ] || { echo "bench-collab: studio did not start" >&2; exit 1; }
  token=$(env -u STUDIO_LOAD_TOKEN -u STUDIO_LOAD_URL STUDIO_DATA_DIR="$data" \
    STUDIO_JWT_SECRET="$studio_secret" "$studio_bin" token alice)
  export STUDIO_LOAD_TOKEN=$token
  room=$(curl -fsS -X POST "$base/api/projects" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"bench"}' | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  [ -n "$room" ] || { echo "bench-collab: cannot create the project" >&2; exit 1; }
  url="${base/http:/ws:}/api/collab"
  server_pid=$ref_pid
  sleep 0.5
}

# Runs one studio-load scenario; its JSON object goes to stdout (and --out).
measure() {
  [ "$mode" = reference ] && start_reference
  [ "$mode" = studio ] && start_studio
  local pid_args=()
  [ -n "$server_pid" ] && pid_args=(--server-pid "$server_pid")
  "$load" --json collab "$@" --url "$url" --room "$room" "${pid_args[@]}" >"$tmp/result.json"
  cat "$tmp/result.json"
  if [ -n "$out" ]; then cat "$tmp/result.json" >>"$out"; fi
  echo >&2
}

[ "$mode" = reference ] && prepare_reference
# Studio admits only real projects: its idle connections all go to the run's one project.
[ "$mode" = studio ] && idle_rooms=1
measure idle --rooms "$idle_rooms" --connections "$connections" --ramp "$ramp" --hold "$hold"
measure relay --clients "$clients" --rate "$rate" --duration "$duration" --warmup "$warmup"
measure throughput --clients "$throughput_clients" --window "$window" --duration "$duration" --warmup "$warmup"
