#!/usr/bin/env bash
# Installs, from Debian's packages, what Studio Engine needs and is missing.
#   install-deps.sh run    what building and running the embedded default needs
#   install-deps.sh test   that, plus what the test suite talks to (PostgreSQL, Redis, psql)
# Rust itself is expected (rustup).
set -euo pipefail
profile=${1:-test}

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v curl >/dev/null || need+=(curl)
# Media processing (probe, proxies, waveforms) runs ffmpeg/ffprobe at run time and in the tests.
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if [ "$profile" = test ]; then
  command -v psql >/dev/null || need+=(postgresql-client)
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null || need+=(redis-server)
  # The real npm clients the tests drive (Uppy); the machines come with Node 20.
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
fi

if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

command -v cargo >/dev/null || { echo "Rust is missing: install it with rustup (https://rustup.rs)" >&2; exit 1; }
# fmt and clippy are part of `make test`.
if [ "$profile" = test ]; then
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi
