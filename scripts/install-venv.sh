#!/usr/bin/env bash
# Creates tests/<name>/.venv with the pinned packages of tests/<name>/requirements.txt, for the
# Python tools the tests drive. Idempotent: silent when the venv already has exactly the pinned
# requirements and `python -c "import <module>"` works in it.
#
#   scripts/install-venv.sh <name> <module>     e.g. `otio opentimelineio`, `moto moto.server`
set -euo pipefail
name=$1
module=$2
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/tests/$name/.venv"
requirements="$root/tests/$name/requirements.txt"
# The requirements the venv was last installed from; a changed pin reinstalls.
stamp="$venv/.requirements"

if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp" \
  && "$venv/bin/python" -c "import $module" 2>/dev/null; then
  exit 0
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "install-$name: $python is missing" >&2; exit 1; }
# Debian's python3 needs python3-venv for `-m venv` (ensurepip); install it when missing.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "installing: python3-venv"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
fi

echo "install-$name: creating $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
"$venv/bin/python" -c "import $module; print('install-$name: $module ready')"
