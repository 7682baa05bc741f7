#!/usr/bin/env bash
# Creates tests/moto/.venv with the pinned moto (tests/moto/requirements.txt), whose
# `moto_server` the S3 lifecycle and storage-class tests start (crates/studio-testkit/src/moto.rs).
exec "$(dirname "$0")/install-venv.sh" moto moto.server
