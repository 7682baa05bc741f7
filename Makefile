# Studio Engine — the two commands of the README, and their helpers.
#   make run    install what is missing, build, start `studio serve` on the embedded defaults
#   make test   install and start what the tests need, then run the whole suite on every backend

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Builds land outside the clone so repeated runs (and fresh clones) on one machine reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/studio-engine/target
STUDIO_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
export STUDIO_TEST_POSTGRES_URL

.PHONY: run test deps services check fmt clippy test-sqlite test-postgres clean-test-schemas

run: deps
	cargo build --release --bin studio
	@echo "Starting studio serve (data in ./data); stop with Ctrl-C."
	$(CARGO_TARGET_DIR)/release/studio serve

test: deps services check test-sqlite test-postgres
	@echo "All suites passed on SQLite and PostgreSQL."

# System packages the build and tests need; installed only when missing.
deps:
	@scripts/install-deps.sh

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

test-postgres: clean-test-schemas
	STUDIO_TEST_BACKEND=postgres cargo test --workspace --locked

# Schemas left behind by tests that did not finish (each test makes its own `t_<random>`).
clean-test-schemas:
	@psql "$(STUDIO_TEST_POSTGRES_URL)" -Atqc "SELECT string_agg(format('DROP SCHEMA %I CASCADE;', nspname), ' ') FROM pg_namespace WHERE nspname LIKE 't\_%'" | psql "$(STUDIO_TEST_POSTGRES_URL)" -q >/dev/null
