#!/usr/bin/env bash
# The BENCHMARKS.md table in one command: builds release, then runs smallpay-bench at full size
# on SQLite and on PostgreSQL (each on a fresh database it creates and removes), with the
# baselines in the same run. The table goes to stdout, progress to stderr:
#
#   scripts/bench.sh > bench.md
#
# BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres) must be able to
# create databases; set it empty to skip PostgreSQL. Extra arguments go to smallpay-bench
# (e.g. --scenarios create,history --duration 20s). Nothing here asserts a time.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p smallpay -p smallpay-bench >&2
# 1,000+ sockets per process for the fan-out.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
pg=${BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432/postgres}
args=(--server target/release/smallpay --size full)
if [ -n "$pg" ]; then
  args+=(--postgres "$pg")
fi
exec target/release/smallpay-bench "${args[@]}" "$@"
