#!/usr/bin/env bash
# `make test`: every test, from nothing. Installs nats-server and the a2a-sdk client into
# .tools/ if missing, builds the binaries the integration tests start, and runs the tests.
# Each integration test starts its own nats-server (random port, temporary store) and its own
# PostgreSQL database (created and dropped on the server at TEST_DATABASE_URL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
bash deploy/local/tools.sh
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -d "$TEST_DATABASE_URL" 2>/dev/null; then
  echo "PostgreSQL at $TEST_DATABASE_URL is not answering; starting the local cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
# The workers' test-only fault points are compiled in for the tests, and only here.
cargo build --workspace --bins --features workers/fault-injection
cargo test --workspace --features workers/fault-injection "$@"
