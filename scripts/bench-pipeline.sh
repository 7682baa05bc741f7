#!/usr/bin/env bash
# Wall time of the media pipeline against bare ffmpeg, on a generated 60 s 1080p30 clip with
# audio: (1) the bare ffmpeg command that makes the same 720p proxy (and nothing else); (2) studio:
# upload through the API, then `complete` → the in-process worker downloads, probes, transcodes
# with the PCM for the waveform on the same decode, makes the poster and waveform files, uploads
# them and marks the asset ready. Prints both times and their ratio.
#   scripts/bench-pipeline.sh [seconds]
source "$(dirname "$0")/bench-lib.sh"
secs=${1:-60}
cd "$(dirname "$0")/.."
src="$dir/source.mp4"
ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$secs" \
  -c:v libx264 -preset ultrafast -crf 23 -c:a aac -shortest "$src"
size=$(stat -c %s "$src")

# (1) The proxy alone, with the settings studio uses (crates/studio-media/src/transcode.rs).
bare_start=$(date +%s.%N)
ffmpeg -nostdin -nostats -loglevel error -y -i "$src" -map 0:v:0 -map 0:a:0 \
  -vf "scale=1280:720,setsar=1,format=yuv420p" -c:v libx264 -preset veryfast -crf 28 \
  -maxrate 2000k -bufsize 4000k -r 30 -fps_mode cfr -g 30 -keyint_min 30 -sc_threshold 0 \
  -c:a aac -b:a 128k -ac 2 -ar 48000 -movflags +faststart -f mp4 "$dir/bare.mp4"
bare_end=$(date +%s.%N)

# (2) studio, embedded default with its in-process worker.
start_studio sqlite STUDIO_WORKER_CONCURRENCY=1 STUDIO_MULTIPART_THRESHOLD_BYTES=1073741824
id=$(create_project)
intent=$(curl -fsS -X POST "$url/api/media/upload-intent" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d "{\"projectId\":\"$id\",\"filename\":\"clip.mp4\",\"contentType\":\"video/mp4\",\"size\":$size}")
put_url=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["upload"]["url"])' "$intent")
asset=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["assetId"])' "$intent")
curl -fsS -o /dev/null -X PUT -T "$src" -H 'content-type: video/mp4' "$put_url"
studio_start=$(date +%s.%N)
curl -fsS -o /dev/null -X POST "$url/api/media/$asset/complete" -H "authorization: Bearer $token"
status=""
for _ in $(seq 1 6000); do
  status=$(curl -fsS "$url/api/assets/$asset" -H "authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" = ready ] || [ "$status" = failed ] && break
  sleep 0.1
done
studio_end=$(date +%s.%N)
[ "$status" = ready ] || { echo "the asset ended $status" >&2; exit 1; }
python3 - "$secs" "$bare_start" "$bare_end" "$studio_start" "$studio_end" <<'PY'
import sys
secs, b0, b1, s0, s1 = map(float, sys.argv[1:])
bare, studio = b1 - b0, s1 - s0
print(f"{secs:.0f} s 1080p30 clip: bare ffmpeg proxy {bare:.1f} s; studio complete→ready {studio:.1f} s "
      f"(proxy + waveform + poster + uploads); ratio {studio / bare:.2f}")
PY
