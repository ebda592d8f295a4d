#!/usr/bin/env bash
# The capacity model's check (BENCHMARKS.md, "Capacity model"): the same load on this
# machine's two cores split three ways with `taskset`, each on a fresh private PostgreSQL
# (scripts/standby.sh with STANDBY=0) and a release build:
#
#   A   1 instance on core 0; PostgreSQL, the bench (and nothing else) on core 1
#   B   2 instances, one on each core, behind HAProxy; PostgreSQL and the bench on both
#   C   1 instance, PostgreSQL and the bench all on both cores
#
# Each prints the bench's table, with the CPU each request cost the server (with HAProxy),
# PostgreSQL and the bench: the model takes its costs from one configuration and predicts
# the others' throughput (BENCHMARKS.md does the arithmetic).
#
#   scripts/capacity.sh                  # all three, 10 s per scenario (creation on 16 shops,
#                                        # preview, the history page at 1 and 64 connections)
#   CONFIGS="A B" DURATION=5s SCENARIOS=preview scripts/capacity.sh
set -euo pipefail
cd "$(dirname "$0")/.."

configs=${CONFIGS:-A B C}
duration=${DURATION:-10s}
scenarios=${SCENARIOS:-create-shops,preview,history}
command -v haproxy >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >&2
cargo build --release --locked -p smallpay -p smallpay-bench >&2
bin=target/release/smallpay
bench=target/release/smallpay-bench
ulimit -n 65536 2>/dev/null || true

export SMALLPAY_ENV=production
export SMALLPAY_JWT_SECRET="capacity-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export SMALLPAY_SEAL_KEY="capacity-seal-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export SMALLPAY_MUTATION_RATE=1000000000 SMALLPAY_MUTATION_BURST=1000000000
export SMALLPAY_MAX_CONNECTIONS=20000 SMALLPAY_TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn
unset SMALLPAY_TEST_CLOCK DATABASE_URL SMALLPAY_DATABASE_REPLICA_URL

pids=()
pg_dir=
work=$(mktemp -d)
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
  [ -n "$pg_dir" ] && scripts/standby.sh stop "$pg_dir"
  pg_dir=
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run CONFIG PG_CPUS BENCH_CPUS INSTANCE_CPUS...
run() {
  local config=$1 pg_cpus=$2 bench_cpus=$3
  shift 3
  pg_dir=$(mktemp -d -u /tmp/smallpay-capacity-pg.XXXXXX)
  STANDBY=0 PRIMARY_CPUS=$pg_cpus scripts/standby.sh start "$pg_dir" >/dev/null
  local pg db_url
  pg=$(sed -n 's/^PRIMARY_URL=//p' "$pg_dir/urls")
  psql "$pg" -qc "CREATE DATABASE capacity"
  db_url="${pg%/*}/capacity"
  "$bin" --database-url "$db_url" migrate >&2
  # The history shop goes in before any instance starts (their publishers would replay it).
  "$bench" --database-url "$db_url" --history-file "$work/history-$config" >&2
  local urls=() i=0
  for cpus in "$@"; do
    i=$((i + 1))
    taskset -c "$cpus" "$bin" --bind 127.0.0.1:0 --database-url "$db_url" serve >"$work/$config$i.out" 2>"$work/$config$i.err" &
    pids+=("$!")
    for _ in $(seq 1 120); do grep -q '^listening on ' "$work/$config$i.out" && break; sleep 0.5; done
    urls+=("$(sed -n 's/^listening on //p' "$work/$config$i.out")")
  done
  local target=${urls[0]}
  if [ "${#urls[@]}" -gt 1 ]; then
    local port
    port=$(free_port)
    {
      printf 'defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n'
      printf 'frontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  balance roundrobin\n' "$port"
      for u in "${urls[@]}"; do echo "  server s${u##*:} ${u#http://}"; done
    } >"$work/haproxy-$config.cfg"
    taskset -c "$bench_cpus" haproxy -f "$work/haproxy-$config.cfg" -db >"$work/haproxy-$config.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
    target="http://127.0.0.1:$port"
  fi
  echo "== $config: instances on cores [$*], PostgreSQL on [$pg_cpus], bench on [$bench_cpus]" >&2
  taskset -c "$bench_cpus" "$bench" --url "$target" --jwt-secret "$SMALLPAY_JWT_SECRET" --database-url "$db_url" \
    --label "$config: ${#urls[@]} instance(s) on [$*], PostgreSQL [$pg_cpus], bench [$bench_cpus]" \
    --history-file "$work/history-$config" --scenarios "$scenarios" --duration "$duration"
  stop_all
}

for config in $configs; do
  case $config in
    A) run A 1 1 0 ;;
    B) run B 0,1 0,1 0 1 ;;
    C) run C 0,1 0,1 0,1 ;;
    *) echo "unknown configuration $config" >&2; exit 2 ;;
  esac
done
