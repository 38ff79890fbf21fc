#!/usr/bin/env bash
# `make test`: every test, from nothing. Installs nats-server, PostgreSQL's binaries and the
# Python test clients into .tools/ if missing, finds or starts a PostgreSQL (postgres.sh),
# builds the binaries the integration tests start, and runs the tests.
# Each integration test starts its own nats-server (random port, temporary store) and its own
# PostgreSQL database (created and dropped on the server at TEST_DATABASE_URL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
cd "$root"
bash deploy/local/tools.sh
# TEST_DATABASE_URL as set, else the server on 127.0.0.1:5432, else the project-local one
# (started now, stopped when the tests end).
trap local_postgres_stop EXIT
local_postgres TEST_DATABASE_URL postgres
# The workers' test-only fault points are compiled in for the tests, and only here.
cargo build --workspace --bins --features workers/fault-injection
cargo test --workspace --features workers/fault-injection "$@"
