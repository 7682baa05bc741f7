# Studio Engine — the two commands of the README, and their helpers.
#   make run    install what is missing, build, start `studio serve` on the embedded defaults
#   make test   install and start what the tests need, then run the whole suite on every backend

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Builds land outside the clone so repeated runs (and fresh clones) on one machine reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/studio-engine/target
STUDIO_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# The S3-compatible server the S3 tests start (it verifies SigV4 like S3 does).
S3S_FS_VERSION := 0.14.1
# libFuzzer for the parsers of untrusted input (scripts/fuzz.sh); `make test` fuzzes each target
# for FUZZ_SECONDS.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 45
export STUDIO_TEST_POSTGRES_URL

.PHONY: run token test deps services check fmt clippy test-sqlite test-postgres clean-test-schemas gen-clients fuzz

run:
	@scripts/install-deps.sh run
	cargo build --release --bin studio
	@echo "Starting studio serve (data in ./data); stop with Ctrl-C."
	$(CARGO_TARGET_DIR)/release/studio serve

# A token for USER (default: alice), signed with the same secret `make run` verifies with.
USER_ID ?= alice
token:
	@cargo build --release --bin studio -q
	@$(CARGO_TARGET_DIR)/release/studio token $(USER_ID)

test: deps services check test-sqlite test-postgres fuzz
	@echo "All suites passed: SQLite with local storage and the embedded queue; PostgreSQL with S3 and the Redis queue; the timeline, collaboration-frame and AI-stream fuzzers."

# System packages the build and the tests need; installed only when missing.
deps:
	@scripts/install-deps.sh test
	@command -v s3s-fs >/dev/null || test -x $(HOME)/.cargo/bin/s3s-fs || \
		cargo install s3s-fs --version $(S3S_FS_VERSION) --features binary --locked
	cd tests/uppy && npm ci --no-audit --no-fund
	cd tests/waveform && npm ci --no-audit --no-fund
	cd tests/schema && npm ci --no-audit --no-fund
	cd clients/typescript && npm ci --no-audit --no-fund
	cd tests/collab && npm ci --no-audit --no-fund
	cd tests/ai && npm ci --no-audit --no-fund
	@scripts/install-otio.sh
	@scripts/install-moto.sh
	@cargo fuzz --version 2>/dev/null | grep -qF "$(CARGO_FUZZ_VERSION)" || \
		cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked

# PostgreSQL and Redis, started when not already answering.
services:
	@scripts/start-services.sh

check: fmt clippy

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-sqlite:
	STUDIO_TEST_BACKEND=sqlite cargo test --workspace --locked

# Only the crates whose tests touch a database run again: the rest do not depend on the backend.
# This pass is the scaled-out column: PostgreSQL, S3 (a real s3s-fs per test app) and the
# Redis/BullMQ job queue (a key prefix per test app).
test-postgres: clean-test-schemas
	STUDIO_TEST_BACKEND=postgres STUDIO_TEST_STORAGE=s3 STUDIO_TEST_QUEUE=redis cargo test --locked -p studio-db -p studio-queue -p studio-testkit -p studio

# Schemas left behind by tests that did not finish (each test makes its own `t_<random>`).
clean-test-schemas:
	@psql "$(STUDIO_TEST_POSTGRES_URL)" -Atqc "SELECT string_agg(format('DROP SCHEMA %I CASCADE;', nspname), ' ') FROM pg_namespace WHERE nspname LIKE 't\_%'" | psql "$(STUDIO_TEST_POSTGRES_URL)" -q >/dev/null

# The scaled-out topology on this machine: two `studio serve` nodes and two `studio worker`s on
# the running PostgreSQL and Redis and an s3s-fs bucket, in the background (scripts/cluster.sh).
.PHONY: cluster cluster-stop
cluster:
	@scripts/cluster.sh start
cluster-stop:
	@scripts/cluster.sh stop

# Regenerates clients/typescript (JSON Schema, TypeScript types, Zod) from the Rust timeline
# model; `cargo test` fails while the committed files are stale.
gen-clients:
	scripts/gen-clients.sh

# libFuzzer on timeline parse + validate, collaboration frames and AI provider streams, bounded (longer: make fuzz
# FUZZ_SECONDS=3600).
fuzz:
	CARGO_FUZZ_VERSION=$(CARGO_FUZZ_VERSION) scripts/fuzz.sh $(FUZZ_SECONDS)
