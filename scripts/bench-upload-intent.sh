#!/usr/bin/env bash
# Load test of `POST /api/media/upload-intent` (auth, access check, quota reservation and asset
# insert in one transaction, signing the PUT URL) with wrk.
#   scripts/bench-upload-intent.sh sqlite|postgres [duration_secs] [connections]
source "$(dirname "$0")/bench-lib.sh"
backend=${1:-sqlite}
duration=${2:-20}
connections=${3:-50}
cd "$(dirname "$0")/.."
start_studio "$backend"
id=$(create_project)
lua="$dir/intent.lua"
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $token"
wrk.body = '{"projectId":"$id","filename":"clip.mp4","contentType":"video/mp4","size":1000}'
LUA
echo "backend=$backend duration=${duration}s connections=$connections (each intent reserves 1000 bytes)"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$lua" "$url/api/media/upload-intent"
