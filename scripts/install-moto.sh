#!/usr/bin/env bash
# Creates tests/moto/.venv with the pinned moto (tests/moto/requirements.txt), whose
# `moto_server` the S3 lifecycle and storage-class tests start (crates/studio-testkit/src/moto.rs).
# Idempotent: silent when the venv already has exactly the pinned requirements.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/tests/moto/.venv"
requirements="$root/tests/moto/requirements.txt"
# The requirements the venv was last installed from; a changed pin reinstalls.
stamp="$venv/.requirements"

if [ -x "$venv/bin/moto_server" ] && cmp -s "$requirements" "$stamp" \
  && "$venv/bin/python" -c 'import moto.server' 2>/dev/null; then
  exit 0
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "install-moto: $python is missing" >&2; exit 1; }
# Debian's python3 needs python3-venv for `-m venv` (ensurepip); install it when missing.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "installing: python3-venv"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
fi

echo "install-moto: creating $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
"$venv/bin/python" -c 'import moto; print("install-moto: moto", moto.__version__)'
