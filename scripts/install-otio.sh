#!/usr/bin/env bash
# Creates tests/otio/.venv with the pinned OpenTimelineIO (tests/otio/requirements.txt), which
# the OTIO export test (crates/studio-core/tests/otio.rs) loads its output with.
exec "$(dirname "$0")/install-venv.sh" otio opentimelineio
