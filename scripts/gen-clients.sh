#!/usr/bin/env bash
# Regenerates clients/typescript from the Rust model of the project timeline:
#   1. project.schema.json  ← `studio schema` (the JSON Schema the server publishes and checks)
#   2. src/project.ts, src/project.zod.ts  ← clients/typescript/generate.mjs, from that file
# Commit what changes. `cargo test -p studio-core` fails while the committed files are stale
# (tests/timeline_corpus.rs and clients/typescript/test/check.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
client=clients/typescript

# The generators are pinned in the client's package-lock.json.
if [ ! -d "$client/node_modules/json-schema-to-zod" ]; then
  (cd "$client" && npm ci --no-audit --no-fund)
fi

# Written aside first, so a failed build leaves the committed schema as it was.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cargo run -q --locked --bin studio -- schema >"$tmp"
cat "$tmp" >"$client/project.schema.json"

node "$client/generate.mjs" "$client/project.schema.json" "$client"
echo "gen-clients.sh: $client is up to date with the Rust model"
