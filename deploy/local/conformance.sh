#!/usr/bin/env bash
# Runs the official UCP conformance suite (Universal-Commerce-Protocol/conformance at the commit
# below, its models from PyPI ucp-sdk 0.1.0) against this runtime, started as `make run` starts
# it, with the flower-shop data set the suite expects and a database of its own
# (cartwright_conformance, recreated each run). The suite is fetched into .tools/ (git-ignored),
# never committed. Every test runs except test_discovery_urls (it fetches spec URLs from the
# internet). Stop `make run` first: this uses the same ports. Exit status: the suite's.
#
#   bash deploy/local/conformance.sh [test_file.py ...]
#
# The suite sends no credentials, so the REST binding acts as UCP_REST_ANONYMOUS_PRINCIPAL here;
# it binds 8284 (its webhook receiver) and 8285 (its platform profile) itself.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
cd "$root"
bash deploy/local/tools.sh

suite_commit="fdced3ad4d92637a55de8f4b71a6dead5a2621c0"
suite_repo="${CONFORMANCE_REPO:-https://github.com/Universal-Commerce-Protocol/conformance}"
suite="$root/.tools/conformance"
if [ "$(git -C "$suite" rev-parse HEAD 2>/dev/null)" != "$suite_commit" ]; then
  rm -rf "$suite"
  git clone --quiet "$suite_repo" "$suite"
  git -C "$suite" checkout --quiet "$suite_commit"
fi
venv="$root/.tools/conformance-venv"
if [ ! -f "$venv/.installed" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check ucp-sdk==0.1.0 absl-py httpx pydantic fastapi uvicorn
  touch "$venv/.installed"
fi

data="${MERCHANT_DATA:-$root/../shared/flower-shop}"
local_postgres DATABASE_URL cartwright_conformance
trap local_postgres_stop EXIT
if pg_find_bin 2>/dev/null && [ -x "$pg_bin/dropdb" ]; then
  "$pg_bin/dropdb" --if-exists --maintenance-db="${DATABASE_URL%/*}/postgres" cartwright_conformance
fi
export DATABASE_URL MERCHANT_DATA="$data"
export PAYMENT_HANDLERS="google_pay,mock_payment_handler,shop_pay"
export UCP_REST_ANONYMOUS_PRINCIPAL="conformance"
export SIMULATION_SECRET="${SIMULATION_SECRET:-conformance-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}"
export UCP_PROFILE_ALLOWLIST="localhost:8285,localhost:8284"
export AGENT_HOST="${AGENT_HOST:-127.0.0.1}" AGENT_PORT="${AGENT_PORT:-10999}"
log="$root/.run/conformance-stack.log"
mkdir -p "$root/.run"
bash deploy/local/run.sh >"$log" 2>&1 &
stack=$!
trap 'kill -TERM $stack 2>/dev/null; wait $stack 2>/dev/null || true; local_postgres_stop' EXIT
for _ in $(seq 1 600); do
  curl -fsS "http://$AGENT_HOST:$AGENT_PORT/ready" >/dev/null 2>&1 && break
  kill -0 $stack 2>/dev/null || { cat "$log"; echo "the stack did not start" >&2; exit 1; }
  sleep 0.5
done

cd "$suite"
files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(ls ./*_test.py | xargs -n1 basename)
status=0
for file in "${files[@]}"; do
  # Every test of the file but test_discovery_urls, named as absltest takes them.
  mapfile -t tests < <("$venv/bin/python" - "$file" <<'PY'
import ast, sys
for node in ast.parse(open(sys.argv[1]).read()).body:
    if isinstance(node, ast.ClassDef):
        for fn in node.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_") and fn.name != "test_discovery_urls":
                print(f"{node.name}.{fn.name}")
PY
)
  echo "== $file (${#tests[@]} tests)"
  out="$root/.run/conformance-${file%.py}.log"
  if "$venv/bin/python" "$file" "${tests[@]}" \
    --server_url="http://$AGENT_HOST:$AGENT_PORT" \
    --simulation_secret="$SIMULATION_SECRET" \
    --conformance_input="$data/conformance_input.json" \
    --test_data_dir="$data" >"$out" 2>&1; then
    grep -E "^Ran " "$out" || true
  else
    status=1
    grep -E "^(Ran |FAIL:|ERROR:|FAILED)" "$out" || true
    echo "   (details: $out)"
  fi
done
exit $status
