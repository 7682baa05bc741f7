#!/usr/bin/env bash
# Throughput and memory of one large upload to local storage: intent, then a single signed PUT
# of SIZE_GIB GiB (default 4) read from a sparse file, then complete. Prints MiB/s and the
# studio process's peak RSS before and after.
#   scripts/bench-upload.sh [size_gib]
source "$(dirname "$0")/bench-lib.sh"
size_gib=${1:-4}
size=$((size_gib * 1024 * 1024 * 1024))
cd "$(dirname "$0")/.."
config="$dir/studio.toml"
cat >"$config" <<TOML
multipart_threshold_bytes = $((size + 1))
[plans.free]
storage_bytes = $((size * 2))
max_file_bytes = $((size * 2))
TOML
start_studio sqlite STUDIO_CONFIG="$config"
id=$(create_project)
intent=$(curl -fsS -X POST "$url/api/media/upload-intent" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d "{\"projectId\":\"$id\",\"filename\":\"big.mov\",\"contentType\":\"video/quicktime\",\"size\":$size}")
put_url=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["upload"]["url"])' "$intent")
asset=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["assetId"])' "$intent")
truncate -s "$size" "$dir/source"
before=$(peak_rss_mib)
start=$(date +%s.%N)
curl -fsS -o /dev/null -X PUT -T "$dir/source" -H 'content-type: video/quicktime' "$put_url"
end=$(date +%s.%N)
after=$(peak_rss_mib)
curl -fsS -o /dev/null -X POST "$url/api/media/$asset/complete" -H "authorization: Bearer $token"
python3 - "$size" "$start" "$end" "$before" "$after" <<'PY'
import sys
size, start, end, before, after = int(sys.argv[1]), *map(float, sys.argv[2:])
secs = end - start
print(f"uploaded {size / 2**30:.1f} GiB in {secs:.1f} s: {size / 2**20 / secs:.0f} MiB/s; "
      f"studio peak RSS {before:.1f} MiB before, {after:.1f} MiB after")
PY
