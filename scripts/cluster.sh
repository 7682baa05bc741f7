#!/usr/bin/env bash
# The scaled-out topology on one machine: two `studio serve` nodes (API only) and two
# `studio worker` processes on PostgreSQL (a fresh database), the Redis/BullMQ queue (a key prefix
# of its own) and S3 storage (an s3s-fs server over a local directory).
#
#   scripts/cluster.sh start     build (release), start everything in the background, print the URLs
#   scripts/cluster.sh stop      SIGTERM every process (serve nodes, then workers, then s3s-fs), wait
#   scripts/cluster.sh status    which processes run, and their peak memory (VmHWM)
#   make cluster / make cluster-stop   the same as start / stop
#
# Uses the PostgreSQL and Redis already answering on 127.0.0.1 (scripts/start-services.sh starts
# them when they are not). `start` recreates the database and deletes the prefix's Redis keys, so
# every start is fresh; `stop` leaves the database and the logs for a look afterwards.
# State (pids, logs, the JWT secret, cluster.env with the URLs and pids) is in $CLUSTER_DIR.
#
# Settings (environment):
#   CLUSTER_DIR [~/.cache/studio-engine/cluster]   CLUSTER_DATABASE [studio_cluster]
#   CLUSTER_PORT [8081]: the nodes listen on CLUSTER_PORT and CLUSTER_PORT+1
#   CLUSTER_S3_PORT [9100]   CLUSTER_WORKER_METRICS_PORT [9465] (and +1)
#   CLUSTER_QUEUE_PREFIX [studio-cluster]
#   Any STUDIO_* setting in the environment reaches every process (e.g. STUDIO_WORKER_CONCURRENCY).
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
cd "$(dirname "$0")/.."

state=${CLUSTER_DIR:-$HOME/.cache/studio-engine/cluster}
database=${CLUSTER_DATABASE:-studio_cluster}
port=${CLUSTER_PORT:-8081}
s3_port=${CLUSTER_S3_PORT:-9100}
metrics_port=${CLUSTER_WORKER_METRICS_PORT:-9465}
prefix=${CLUSTER_QUEUE_PREFIX:-studio-cluster}
pg_admin=postgres://postgres@127.0.0.1:5432/postgres
redis_url=redis://127.0.0.1:6379
bucket=studio
s3_access=studio-cluster-access
s3_secret=studio-cluster-secret-key
# What stop waits for after SIGTERM before SIGKILL: serve's and worker's default
# shutdown_timeout_secs (30) plus a margin.
stop_timeout=40
studio="$CARGO_TARGET_DIR/release/studio"
# serve nodes first (no new requests), then workers (running jobs finish), then storage.
roles=(serve-1 serve-2 worker-1 worker-2 s3s-fs)

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

s3s_binary() {
  if command -v s3s-fs >/dev/null; then command -v s3s-fs
  elif [ -x "$HOME/.cargo/bin/s3s-fs" ]; then echo "$HOME/.cargo/bin/s3s-fs"
  else
    echo "cluster: installing s3s-fs (as make deps does)" >&2
    cargo install s3s-fs --version 0.14.1 --features binary --locked >&2
    echo "$HOME/.cargo/bin/s3s-fs"
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http NAME URL: until URL answers 2xx, or NAME's process exits (then its log is shown).
wait_http() {
  local name=$1 url=$2
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    if ! running "$name"; then
      echo "cluster: $name exited; the end of $state/$name.log:" >&2
      tail -n 20 "$state/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "cluster: $name did not answer at $url" >&2
  exit 1
}

# launch NAME COMMAND…: in its own session (Ctrl-C in this terminal does not reach it), logs to
# $state/NAME.log, pid to $state/NAME.pid.
launch() {
  local name=$1; shift
  setsid "$@" </dev/null >"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

start() {
  for role in "${roles[@]}"; do
    if running "$role"; then
      echo "cluster: already running ($role, pid $(cat "$state/$role.pid")); scripts/cluster.sh stop first" >&2
      exit 1
    fi
  done
  for p in "$port" $((port + 1)) "$s3_port" "$metrics_port" $((metrics_port + 1)); do
    port_free "$p" || { echo "cluster: port $p is in use (see the CLUSTER_* settings)" >&2; exit 1; }
  done
  scripts/start-services.sh >/dev/null
  cargo build --release -q --bin studio
  local s3s
  s3s=$(s3s_binary)

  rm -rf "$state"
  mkdir -p "$state/s3/$bucket"
  # Fresh database and queue keys: results of one run never mix with the last one's.
  PGOPTIONS=--client-min-messages=warning psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
  redis-cli -u "$redis_url" --scan --pattern "$prefix:*" | xargs -r -n 500 redis-cli -u "$redis_url" del >/dev/null
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/jwt-secret"
  chmod 600 "$state/jwt-secret"

  launch s3s-fs env RUST_LOG=error "$s3s" --host 127.0.0.1 --port "$s3_port" \
    --access-key "$s3_access" --secret-key "$s3_secret" "$state/s3"
  for _ in $(seq 1 150); do port_free "$s3_port" || break; sleep 0.1; done
  running s3s-fs || { cat "$state/s3s-fs.log" >&2; exit 1; }

  export STUDIO_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
  export STUDIO_QUEUE=redis STUDIO_REDIS_URL=$redis_url STUDIO_QUEUE_PREFIX=$prefix
  export STUDIO_STORAGE_URL="s3://$bucket?endpoint=http://127.0.0.1:$s3_port&region=us-east-1&path_style=true"
  export STUDIO_S3_ACCESS_KEY_ID=$s3_access STUDIO_S3_SECRET_ACCESS_KEY=$s3_secret
  export STUDIO_JWT_SECRET_FILE="$state/jwt-secret"
  export STUDIO_RUN_IN_PROCESS_WORKER=false
  export STUDIO_LOG_FORMAT=${STUDIO_LOG_FORMAT:-json} STUDIO_LOG_LEVEL=${STUDIO_LOG_LEVEL:-warn}

  STUDIO_DATA_DIR="$state/migrate" "$studio" migrate >"$state/migrate.log" 2>&1 ||
    { cat "$state/migrate.log" >&2; exit 1; }
  for n in 1 2; do
    launch "serve-$n" env STUDIO_DATA_DIR="$state/serve-$n" STUDIO_BIND="127.0.0.1:$((port + n - 1))" \
      "$studio" serve
    launch "worker-$n" env STUDIO_DATA_DIR="$state/worker-$n" \
      STUDIO_WORKER_METRICS_LISTEN="127.0.0.1:$((metrics_port + n - 1))" "$studio" worker
  done
  for n in 1 2; do
    wait_http "serve-$n" "http://127.0.0.1:$((port + n - 1))/health"
    wait_http "worker-$n" "http://127.0.0.1:$((metrics_port + n - 1))/health"
  done

  local hosts="http://127.0.0.1:$port,http://127.0.0.1:$((port + 1))" pids=""
  for role in "${roles[@]}"; do pids+="${pids:+,}$role=$(cat "$state/$role.pid")"; done
  cat >"$state/cluster.env" <<ENV
CLUSTER_HOSTS=$hosts
CLUSTER_PIDS=$pids
CLUSTER_S3=http://127.0.0.1:$s3_port
CLUSTER_JWT_SECRET_FILE=$state/jwt-secret
ENV
  cat <<EOF
Studio cluster running (PostgreSQL database $database, Redis prefix $prefix, S3 bucket $bucket on s3s-fs):
  API nodes      http://127.0.0.1:$port  http://127.0.0.1:$((port + 1))   (any node serves any request)
  workers        metrics http://127.0.0.1:$metrics_port/metrics  http://127.0.0.1:$((metrics_port + 1))/metrics
  S3 (s3s-fs)    http://127.0.0.1:$s3_port  (bucket $bucket; files in $state/s3)
  pids           $pids
  JWT secret     $state/jwt-secret (shared by every node)
  a token        STUDIO_JWT_SECRET_FILE=$state/jwt-secret $studio token alice
  load test      STUDIO_LOAD_JWT_SECRET=\$(cat $state/jwt-secret) studio-load scenario uploads --host $hosts
  logs           $state/*.log
Stop with: make cluster-stop (or scripts/cluster.sh stop)
EOF
}

stop() {
  local stopped=0
  for role in "${roles[@]}"; do
    running "$role" || continue
    local pid
    pid=$(cat "$state/$role.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 $((stop_timeout * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: $role (pid $pid) ignored SIGTERM for ${stop_timeout}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $role (pid $pid)"
    stopped=1
  done
  [ "$stopped" = 1 ] || echo "cluster: nothing running"
  rm -f "$state"/*.pid
}

status() {
  local any=0
  for role in "${roles[@]}"; do
    if running "$role"; then
      local pid
      pid=$(cat "$state/$role.pid")
      awk -v r="$role" -v p="$pid" '/VmHWM/ { printf "%-9s pid %-8s peak RSS %.1f MiB\n", r, p, $2 / 1024 }' "/proc/$pid/status"
      any=1
    else
      echo "$role: not running"
    fi
  done
  [ "$any" = 1 ]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
