#!/usr/bin/env bash
# Load test of `GET /api/projects/{id}` (auth + access check + one query) with wrk.
#   scripts/bench-get-project.sh sqlite|postgres [duration_secs] [connections]
source "$(dirname "$0")/bench-lib.sh"
backend=${1:-sqlite}
duration=${2:-20}
connections=${3:-50}
cd "$(dirname "$0")/.."
start_studio "$backend"
id=$(create_project)
curl -fsS -o /dev/null "$url/api/projects/$id" -H "authorization: Bearer $token"
echo "backend=$backend duration=${duration}s connections=$connections url=$url/api/projects/$id"
wrk -t2 -c"$connections" -d"${duration}s" --latency -H "authorization: Bearer $token" "$url/api/projects/$id"
