#!/usr/bin/env bash
# Timeline validation speed: `timeline::parse_and_validate` on valid documents of 100, 1,000 and
# 10,000 clips (10 tracks, realistic fields), split into JSON parse, shape check (JSON Schema),
# typed deserialize and rules, with the peak memory growth of one validation. Runs
# crates/studio-core/benches/timeline.rs (release build) and prints its tables in
# BENCHMARKS.md's format (medians; the p10–p90 spread of the total).
#   scripts/bench-timeline.sh [seconds per measurement] [sizes]
#   scripts/bench-timeline.sh 3 100,1000,10000        # the defaults
# No server or database: the numbers are one core's, so run it on a quiet machine (other builds
# or tests on the two cores show as a wide spread).
set -euo pipefail
: "${CARGO_TARGET_DIR:=$HOME/.cache/studio-engine/target}"
export CARGO_TARGET_DIR
seconds=${1:-3}
sizes=${2:-100,1000,10000}
cd "$(dirname "$0")/.."
cargo bench -q -p studio-core --bench timeline --no-run
cargo bench -q -p studio-core --bench timeline -- --sizes "$sizes" --seconds "$seconds"
