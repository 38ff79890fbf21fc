#!/usr/bin/env bash
# `make bench`: builds release binaries and runs the benchmark, which starts its own
# nats-server and database, prints a table and updates BENCHMARKS.md. Arguments go to
# cartwright-bench (`--quick`, `--only <scenario>`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
cd "$root"
bash deploy/local/tools.sh
trap local_postgres_stop EXIT
local_postgres TEST_DATABASE_URL postgres
# The calibration row runs pgbench: the machine's, else the one beside the local server.
command -v pgbench >/dev/null || { pg_find_bin && export PATH="$PATH:$pg_bin"; }
cargo build --release --bins
CARTWRIGHT_BIN_DIR="$CARGO_TARGET_DIR/release" "$CARGO_TARGET_DIR/release/cartwright-bench" "$@"
