#!/usr/bin/env bash
# Several smallpay instances for real: N instances (default 3) on one PostgreSQL database behind
# HAProxy (Debian's package; WebSocket upgrades pass through), in production mode. Runs the
# bench's create and fan-out scenarios through the balancer with 1 instance behind it, then
# with all N, and prints both tables: throughput with more instances, and every subscriber —
# whichever instance it landed on — getting every event once and in order (the bench fails
# otherwise). Then it checks the database: every DELIVER job ran once, no payout settled twice,
# no job left overdue, and `smallpay audit` finds the books balanced.
#
# With STANDBY=1 (the default) the database is a private primary with a hot standby
# (scripts/standby.sh: `initdb` + `pg_basebackup -R`, never the machine's own server), every
# instance reads from the standby (SMALLPAY_DATABASE_REPLICA_URL), HAProxy keeps each account
# on one instance (`balance hdr(Authorization)`: an instance knows its own accounts' last
# writes, src/db/replica.rs), the standby applies every commit 100 ms late (so that a read
# sent there too early would miss its write), and the run adds the bench's `ryw` scenario — accounts that
# write and at once read back what they wrote, through the balancer: a read that misses its
# reader's own write fails the run — and `preview` (reads that go to the standby); after it,
# the standby's own count of the transactions it served. STANDBY=0: one database on
# BENCH_POSTGRES_URL, `balance leastconn`.
#
#   scripts/cluster.sh                 # release build, full size
#   SIZE=tiny PROFILE=debug scripts/cluster.sh
#
# BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres, STANDBY=0 only) must
# be able to create databases; the script creates smallpay_cluster_<random> and drops it after.
set -euo pipefail
cd "$(dirname "$0")/.."

instances=${INSTANCES:-3}
size=${SIZE:-full}
profile=${PROFILE:-release}
pg=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
standby=${STANDBY:-1}

if ! command -v haproxy >/dev/null; then
  echo "installing HAProxy (Debian package)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >&2
fi
if [ "$profile" = release ]; then
  cargo build --release --locked -p smallpay -p smallpay-bench >&2
else
  cargo build --locked -p smallpay -p smallpay-bench >&2
fi
bin=target/$profile/smallpay
bench=target/$profile/smallpay-bench
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
pg_dir=
db="smallpay_cluster_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
haproxy_pid=
cleanup() {
  [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "$pg_dir" ] && scripts/standby.sh stop "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT
replica_url=
if [ "$standby" = 1 ]; then
  # Outside $work: the postgres OS user must reach it.
  pg_dir=$(mktemp -d -u /tmp/smallpay-cluster-pg.XXXXXX)
  # The standby applies each commit 100 ms late (STANDBY_APPLY_DELAY): a read sent there
  # before its reader's write had been applied would miss it, and the ryw check would fail.
  APPLY_DELAY=${STANDBY_APPLY_DELAY:-100ms} scripts/standby.sh start "$pg_dir" >&2
  pg=$(sed -n 's/^PRIMARY_URL=//p' "$pg_dir/urls")
  standby_url=$(sed -n 's/^STANDBY_URL=//p' "$pg_dir/urls")
  replica_url="${standby_url%/*}/$db"
fi
base_url=${pg%%\?*}
db_url="${base_url%/*}/$db"
psql "$pg" -qc "CREATE DATABASE $db"

export SMALLPAY_ENV=production
export SMALLPAY_JWT_SECRET="cluster-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export SMALLPAY_SEAL_KEY="cluster-bench-seal-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export SMALLPAY_MUTATION_RATE=1000000000 SMALLPAY_MUTATION_BURST=1000000000
export SMALLPAY_MAX_CONNECTIONS=20000 SMALLPAY_MAX_SOCKETS_PER_ACCOUNT=100000
# HAProxy (on this machine) forwards every client: its X-Forwarded-For is believed, and the
# per-address cap applies to the bench's clients behind it, not to the proxy itself.
export SMALLPAY_TRUSTED_PROXIES=127.0.0.1
export RUST_LOG=warn
unset SMALLPAY_TEST_CLOCK DATABASE_URL

"$bin" --database-url "$db_url" migrate >&2
ports=()
[ -n "$replica_url" ] && export SMALLPAY_DATABASE_REPLICA_URL="$replica_url"
for i in $(seq 1 "$instances"); do
  "$bin" --bind 127.0.0.1:0 --database-url "$db_url" serve >"$work/s$i.out" 2>"$work/s$i.err" &
  pids+=("$!")
  for _ in $(seq 1 120); do grep -q '^listening on ' "$work/s$i.out" && break; sleep 0.5; done
  url=$(sed -n 's/^listening on //p' "$work/s$i.out")
  [ -n "$url" ] || { cat "$work/s$i.err" >&2; echo "instance $i did not start" >&2; exit 1; }
  ports+=("${url##*:}")
  echo "instance $i: $url (pid ${pids[-1]})" >&2
done

lb_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
balance_rule() {
  if [ "$standby" = 1 ]; then
    # One account (its token) on one instance, which knows the account's last write: reads
    # go to the standby only once it has replayed that write. A request without the header
    # (a socket's upgrade: its token comes in connection_init) is placed round-robin.
    printf '  balance hdr(Authorization)\n  hash-type consistent\n'
  else
    # Long-lived sockets: the instance with the fewest connections gets the next one.
    printf '  balance leastconn\n'
  fi
}
# Writes haproxy.cfg with the first $1 instances and (re)starts HAProxy.
balance() {
  local n=$1
  {
    cat <<CFG
global
  # Two descriptors per proxied connection: within a 20,000 file limit.
  maxconn 9000
defaults
  mode http
  maxconn 9000
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  # WebSocket: once upgraded, the connection is a tunnel.
  timeout tunnel 1h
frontend smallpay
  bind 127.0.0.1:$lb_port
  default_backend instances
backend instances
$(balance_rule)
  option httpchk GET /readyz
CFG
    for i in $(seq 1 "$n"); do
      echo "  server s$i 127.0.0.1:${ports[$((i - 1))]} check inter 2s"
    done
  } >"$work/haproxy.cfg"
  [ -n "$haproxy_pid" ] && { kill "$haproxy_pid" 2>/dev/null || true; wait "$haproxy_pid" 2>/dev/null || true; }
  haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$lb_port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fsS "http://127.0.0.1:$lb_port/readyz" >/dev/null
}

scenarios=create,create-shops,fanout
[ "$standby" = 1 ] && scenarios=create,create-shops,preview,ryw,fanout
# Scans of smallpay's tables that the standby ran (its own statistics; the instances' checks of
# its position read no table).
standby_scans() {
  psql "${standby_url%/*}/$db" -tAc "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables"
}
[ "$standby" = 1 ] && served_before=$(standby_scans)
status=0
for n in 1 "$instances"; do
  balance "$n"
  echo "== $n instance(s) behind HAProxy on 127.0.0.1:$lb_port" >&2
  "$bench" --url "http://127.0.0.1:$lb_port" --jwt-secret "$SMALLPAY_JWT_SECRET" --database-url "$db_url" \
    --label "PostgreSQL, $n of $instances instances behind HAProxy" --size "$size" \
    --scenarios "$scenarios" "$@" || status=1
  # n = 1 and n = N are the same run when only one instance is asked for.
  [ "$instances" -gt 1 ] || break
done
# What several instances ran, they ran once: every transfer's DELIVER job done after its one
# attempt (a second runner would have counted another), no payout settled twice, no job left
# overdue, and the books balance (`smallpay audit`: ledger against balances, caps, quotas).
echo "== once, across $instances instances: jobs, transitions, books" >&2
once() {
  local n
  n=$(psql "$db_url" -tAc "$2")
  if [ "$n" = 0 ]; then echo "ok: $1" >&2; else echo "FAILED: $1 ($n rows)" >&2; status=1; fi
}
once "every DELIVER job done, after one attempt" \
  "SELECT count(*) FROM scheduled_jobs WHERE kind = 'DELIVER' AND (status <> 'DONE' OR attempts <> 1)"
once "no payout entered SUCCEEDED twice" \
  "SELECT count(*) FROM (SELECT payout_id FROM payout_transitions WHERE to_status = 'SUCCEEDED'
   GROUP BY payout_id HAVING count(*) > 1) twice"
once "no job overdue" "SELECT count(*) FROM scheduled_jobs WHERE status = 'PENDING' AND due_at < now()"
if [ "$standby" = 1 ]; then
  # The standby's own count of the table scans it ran for the instances' reads; the ryw
  # scenario above failed the run if any read missed its reader's own write.
  served=$(($(standby_scans) - served_before))
  if [ "$served" -gt 0 ]; then
    echo "ok: the standby ran $served table scans for reads; no read missed its reader's own write" >&2
  else
    echo "FAILED: the standby served no read" >&2
    status=1
  fi
fi
if "$bin" --database-url "$db_url" audit >"$work/audit.txt" 2>&1; then
  echo "ok: smallpay audit" >&2
else
  cat "$work/audit.txt" >&2
  echo "FAILED: smallpay audit" >&2
  status=1
fi
for i in $(seq 1 "$instances"); do
  if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
    echo "instance $i died:" >&2
    tail -20 "$work/s$i.err" >&2
    status=1
  fi
done
exit "$status"
