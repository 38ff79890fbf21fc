#!/usr/bin/env bash
# `make run`: the whole system on this machine, in the foreground. Installs nats-server and
# PostgreSQL's binaries if missing, starts nats-server with JetStream on its own port and store,
# finds or starts a PostgreSQL (postgres.sh), prepares it (creates the database, migrates, loads
# the merchant data set MERCHANT_DATA, default seed/), runs the ingress and two workers, prints a
# dev token and a curl example. A process that exits is restarted; Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
cd "$root"
bash deploy/local/tools.sh

run_dir="$root/.run"
mkdir -p "$run_dir"
nats_port="${NATS_PORT:-14222}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:$nats_port}"
export AGENT_HOST="${AGENT_HOST:-127.0.0.1}"
export AGENT_PORT="${AGENT_PORT:-10999}"
export PUBLIC_URL="${PUBLIC_URL:-http://$AGENT_HOST:$AGENT_PORT}"
# The curl example presents the ingress's own profile, over http on loopback: allowed by name.
export UCP_PROFILE_ALLOWLIST="${UCP_PROFILE_ALLOWLIST:-$AGENT_HOST:$AGENT_PORT}"
if [ -z "${AUTH_JWT_SECRET:-}" ]; then
  [ -f "$run_dir/dev-secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > "$run_dir/dev-secret"
  AUTH_JWT_SECRET="$(cat "$run_dir/dev-secret")"
  export AUTH_JWT_SECRET
fi
if [ -z "${PAYMENT_KEY:-}${PAYMENT_KEY_FILE:-}" ]; then
  [ -f "$run_dir/dev-payment-key" ] || echo "dev1:$(head -c 32 /dev/urandom | base64)" > "$run_dir/dev-payment-key"
  export PAYMENT_KEY_FILE="$run_dir/dev-payment-key"
fi

cargo build --bins
bin="$CARTWRIGHT_BIN_DIR"

# Each process runs under a supervisor that restarts it when it crashes (a crash is a log line,
# not the end of the stack): after 1 s, doubling to 10 s while it keeps failing, back to 1 s once
# it has run for 30 s. A process that stops cleanly (status 0, or ended by SIGINT or SIGTERM, as
# Ctrl-C in the terminal does to all of them) is not restarted. Ctrl-C (or SIGTERM to this
# script) stops the supervisors, each stopping its process.
supervise() {
  local name="$1"; shift
  local delay=1 child="" status started
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child" 2>/dev/null; exit 0' TERM
  while true; do
    started=$SECONDS
    "$@" &
    child=$!
    status=0
    wait "$child" || status=$?
    child=""
    case "$status" in
      0|130|143) echo "$name stopped (status $status)" >&2; return 0 ;;
    esac
    if (( SECONDS - started >= 30 )); then delay=1; fi
    echo "$name exited with status $status; restarting in ${delay}s" >&2
    sleep "$delay"
    delay=$(( delay * 2 > 10 ? 10 : delay * 2 ))
  done
}

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "stopping..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  local_postgres_stop
}
trap stop_all INT TERM EXIT

# DATABASE_URL as set, else the server on 127.0.0.1:5432, else the project-local one (started
# now, stopped at Ctrl-C). The database is created by `migrate` if missing.
local_postgres DATABASE_URL cartwright

supervise nats-server "$NATS_SERVER_BIN" -c deploy/nats-server.conf -a 127.0.0.1 -p "$nats_port" -sd "$run_dir/nats" -l "$run_dir/nats.log" &
pids+=($!)
# MERCHANT_DATA: the merchant data set folder to load (default seed/, the sample store).
"$bin/cartwright-ingress" migrate --merchant-data "${MERCHANT_DATA:-seed}"
supervise ingress "$bin/cartwright-ingress" serve & pids+=($!)
WORKER_HTTP_ADDR=127.0.0.1:9101 supervise worker-1 "$bin/cartwright-worker" & pids+=($!)
WORKER_HTTP_ADDR=127.0.0.1:9102 supervise worker-2 "$bin/cartwright-worker" & pids+=($!)

for _ in $(seq 1 100); do
  if curl -fsS "http://$AGENT_HOST:$AGENT_PORT/ready" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://$AGENT_HOST:$AGENT_PORT/ready" >/dev/null || { echo "the ingress did not become ready"; exit 1; }

token="$("$bin/cartwright-ingress" token --subject dev)"
if [ -n "${LLM_PROVIDER:-}" ]; then
  assistant="$LLM_PROVIDER"
elif [ -n "${GOOGLE_API_KEY:-}${GOOGLE_API_KEY_FILE:-}" ]; then
  assistant="gemini"
elif [ -n "${OPENAI_API_KEY:-}${OPENAI_API_KEY_FILE:-}" ]; then
  assistant="openai"
else
  assistant="offline: no LLM key configured, chat gets deterministic catalog answers (set GOOGLE_API_KEY or OPENAI_API_KEY)"
fi
cat <<TXT >&2

Cartwright is running: ingress $PUBLIC_URL, 2 workers, nats-server $NATS_URL, PostgreSQL $DATABASE_URL
Metrics: $PUBLIC_URL/metrics, http://127.0.0.1:9101/metrics and http://127.0.0.1:9102/metrics (workers' /health and /ready there too)
A crashed process is restarted (a line says so). Operators: $bin/cartwright-ingress dlq list
Assistant: $assistant
Dev token (principal "dev", valid 24 h):
$token

Try:
curl -s $PUBLIC_URL/ -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \\
  -H 'X-A2A-Extensions: https://ucp.dev/specification/reference?v=2026-01-11' \\
  -H 'UCP-Agent: profile="$PUBLIC_URL/.well-known/ucp"' \\
  -d '{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","role":"user","messageId":"'\$(date +%s%N)'","parts":[{"kind":"data","data":{"action":"search_shopping_catalog","query":"cookies"}}]}}}'

Chat with the assistant: the same request with "parts":[{"kind":"text","text":"I want cookies"}]

Ctrl-C stops everything.
TXT
wait
