#!/usr/bin/env bash
# `make bench`: builds release binaries and runs the benchmark, which starts its own
# nats-server and database, prints a table and updates BENCHMARKS.md. Arguments go to
# cartwright-bench (`--quick`, `--only <scenario>`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
bash deploy/local/tools.sh
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
cargo build --release --bins
CARTWRIGHT_BIN_DIR="$CARGO_TARGET_DIR/release" "$CARGO_TARGET_DIR/release/cartwright-bench" "$@"
