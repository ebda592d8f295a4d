#!/usr/bin/env bash
# A private PostgreSQL primary and a hot standby of it, for scripts/cluster.sh and the bench's
# `--postgres-standby` (never the machine's own server): `initdb` and `pg_basebackup -R` in
# DIR, each on a free port of 127.0.0.1, trust authentication, as the `postgres` OS user when
# run as root (the server refuses root).
#
#   scripts/standby.sh start DIR     # prints PRIMARY_URL=… and STANDBY_URL=… (also in DIR/urls)
#   scripts/standby.sh stop DIR      # stops both and removes DIR
#
# APPLY_DELAY (e.g. 100ms) makes the standby apply each commit that long after the primary
# made it (`recovery_min_apply_delay`): a standby that lags for sure, so that a read routed
# there too early would miss the write. PRIMARY_CPUS / STANDBY_CPUS (e.g. 1) pin a server and every backend it forks to those cores
# with `taskset` (the capacity check in BENCHMARKS.md). Settings are PostgreSQL's defaults but
# for more connections (several instances' pools), 256 MB of shared buffers and the standby
# asking for feedback (no query on it cancelled by the primary's vacuum).
set -euo pipefail

cmd=${1:?start DIR or stop DIR}
dir=${2:?start DIR or stop DIR}
# The server's own directory (Debian: /usr/lib/postgresql/<version>/bin), where all three are.
bin=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")")
for tool in initdb pg_ctl pg_basebackup; do
  [ -x "$bin/$tool" ] || { echo "$tool not found (Debian: the postgresql package's $bin)" >&2; exit 1; }
done
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }

case $cmd in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  primary_port=$(free_port)
  standby_port=$(free_port)
  "${as_pg[@]}" "$bin/initdb" -D "$dir/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$dir/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 256MB
max_wal_senders = 4
CONF
  # shellcheck disable=SC2046
  "${as_pg[@]}" $(pin "${PRIMARY_CPUS:-}") "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
  if [ "${STANDBY:-1}" = 0 ]; then
    echo "PRIMARY_URL=postgres://postgres@127.0.0.1:$primary_port/postgres" | tee "$dir/urls"
    exit 0
  fi
  "${as_pg[@]}" "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/standby" -R -X stream -c fast
  cat >>"$dir/standby/postgresql.auto.conf" <<CONF
port = $standby_port
hot_standby_feedback = on
recovery_min_apply_delay = '${APPLY_DELAY:-0}'
CONF
  # shellcheck disable=SC2046
  "${as_pg[@]}" $(pin "${STANDBY_CPUS:-}") "$bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null
  {
    echo "PRIMARY_URL=postgres://postgres@127.0.0.1:$primary_port/postgres"
    echo "STANDBY_URL=postgres://postgres@127.0.0.1:$standby_port/postgres"
  } | tee "$dir/urls"
  ;;
stop)
  for node in standby primary; do
    [ -d "$dir/$node" ] && "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/$node" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start DIR | stop DIR" >&2
  exit 2
  ;;
esac
