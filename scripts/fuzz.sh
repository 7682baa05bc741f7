#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input for a bounded time each, with libFuzzer through cargo fuzz:
#   timeline       fuzz/fuzz_targets/timeline.rs: arbitrary bytes into timeline::parse_and_validate
#   collab_frame   fuzz/fuzz_targets/collab_frame.rs: arbitrary bytes as a y-websocket frame, read
#                  and applied to a Yjs document as the collaboration server does
#   ai_stream      fuzz/fuzz_targets/ai_stream.rs: arbitrary bytes as an AI provider's streamed
#                  body, cut into chunks where the input says, through the SSE parser and the
#                  OpenAI and Gemini translators (split invariance, bounds, the event contract)
#
#   scripts/fuzz.sh [seconds] [target...]     default 60 s for each target; `make test` runs it
#                                             this way
#
# Installs cargo-fuzz (pinned) when missing. The machine has one stable toolchain and cargo fuzz
# passes nightly-only flags (sancov passes, -Zsanitizer): RUSTC_BOOTSTRAP=1 lets stable rustc
# accept them. Exits 0 when the time ran out without a crash; otherwise non-zero, with the
# reproducer's path.
#
# No sanitizer by default (FUZZ_SANITIZER=address to add AddressSanitizer): our code has no
# unsafe code, so what a bounded run hunts is panics, broken invariants and slow inputs, and
# without ASan it runs ~5 times as many inputs (measured: ~12,000/s against ~2,200/s on one core).
# Panics, overflow checks and debug assertions are on either way.
#
# Where things are (<t> is the target):
#   fuzz/seeds/<t>/            committed seeds: valid inputs using every feature
#   fuzz/<t>.dict              the format's tokens, for libFuzzer's mutations (when there is one)
#   $STUDIO_FUZZ_DIR           (default ~/.cache/studio-fuzz) the build (target/), the corpus the
#                              runs grow (corpus/<t>/, kept between runs on this machine, so each
#                              run starts where the last stopped) and the log of the last run
#                              (<t>.log)
#   fuzz/artifacts/<t>/        crash-*, timeout-*, oom-*: the inputs that failed (git-ignored)
#
# Longer runs: give more seconds (`scripts/fuzz.sh 3600 timeline`; an hour now and then, with
# FUZZ_SANITIZER=address once in a while), or run cargo fuzz directly, e.g. unbounded on both
# cores, stopped with Ctrl-C (from fuzz/):
#   export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=~/.cache/studio-fuzz/target
#   cargo fuzz run -s none timeline ~/.cache/studio-fuzz/corpus/timeline seeds/timeline -- \
#     -dict=timeline.dict -timeout=10 -max_len=16384 -jobs=2 -workers=2
# Reproduce a crash (prints the panic and backtrace), then shrink it (from fuzz/, same env):
#   cargo fuzz run -s none timeline artifacts/timeline/crash-<hash>
#   cargo fuzz tmin -s none timeline artifacts/timeline/crash-<hash>
set -euo pipefail
# The cargo-fuzz release this script was written against (0.13.x takes the flags below).
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
# An input slower than this is reported as a timeout (validation must stay fast on anything).
INPUT_TIMEOUT_SECS=10
# Corpus size (files) past which it is minimized before the run (see below).
CORPUS_MAX_FILES=10000
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(timeline collab_frame ai_stream)
sanitizer=${FUZZ_SANITIZER:-none}
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [seconds] [target...]" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
root=$PWD
: "${STUDIO_FUZZ_DIR:=$HOME/.cache/studio-fuzz}"
export CARGO_TARGET_DIR="$STUDIO_FUZZ_DIR/target"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# The largest input each target tries: a timeline document, one WebSocket frame, a streamed
# answer (a few chat chunks are enough to reach every state).
max_len() {
  case "$1" in
    collab_frame) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

fuzz_one() {
  local target=$1
  local corpus="$STUDIO_FUZZ_DIR/corpus/$target"
  local artifacts="$root/fuzz/artifacts/$target"
  local log="$STUDIO_FUZZ_DIR/$target.log"
  mkdir -p "$corpus" "$artifacts"
  # Build first, so a compile error is not mistaken for a crash and the time budget is all
  # fuzzing.
  (cd fuzz && cargo fuzz build -s "$sanitizer" "$target")

  # The corpus keeps every input that found something new, so it grows run after run; past this
  # many files it is minimized first (cargo fuzz cmin: ~1 min for 30,000 inputs, down to ~2,000).
  if [ "$(find "$corpus" -type f | wc -l)" -gt "$CORPUS_MAX_FILES" ]; then
    echo "minimizing the corpus in $corpus"
    (cd fuzz && cargo fuzz cmin -s "$sanitizer" "$target" "$corpus") >"$log.cmin" 2>&1 ||
      echo "cmin failed (see $log.cmin); fuzzing the whole corpus"
  fi

  local dict=()
  [ -f "$root/fuzz/$target.dict" ] && dict=(-dict="$root/fuzz/$target.dict")
  local stamp
  stamp=$(mktemp)
  echo "fuzzing $target for ${seconds}s (log: $log)"
  local status=0
  (cd fuzz && cargo fuzz run -s "$sanitizer" "$target" "$corpus" "$root/fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout="$INPUT_TIMEOUT_SECS" -max_len="$(max_len "$target")" \
    "${dict[@]}" -artifact_prefix="$artifacts/" -print_final_stats=1) \
    >"$log" 2>&1 || status=$?

  local runs rate inputs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  inputs=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    rm -f "$stamp"
    echo "fuzz $target: no crash in ${seconds}s: ${runs:-?} inputs run (${rate:-?}/s), corpus of $inputs inputs"
    return 0
  fi

  tail -n 60 "$log" >&2
  echo >&2
  local found
  found=$(find "$artifacts" -type f -newer "$stamp" 2>/dev/null || true)
  rm -f "$stamp"
  if [ -n "$found" ]; then
    echo "fuzz $target: FAILED after ${runs:-?} inputs; the input that failed:" >&2
    for file in $found; do
      echo "  $file" >&2
      echo "  reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run -s $sanitizer $target $file)" >&2
    done
  else
    echo "fuzz $target: cargo fuzz failed (exit $status) without a reproducer; see $log" >&2
  fi
  return 1
}

for target in "${targets[@]}"; do
  fuzz_one "$target"
done
