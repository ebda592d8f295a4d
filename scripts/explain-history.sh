#!/usr/bin/env bash
# Loads 1,000,000 payouts into a scratch PostgreSQL database and prints EXPLAIN ANALYZE for
# every history filter, as `payouts(filter)` issues it (the page query and its count), and the
# backward page (`last`/`before`) and its probe.
# Usage: scripts/explain-history.sh [admin-url]  (default postgres://postgres@127.0.0.1:5432/postgres)
# Output is Markdown; docs/history-explain.md holds a recorded run.
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${1:-postgres://postgres@127.0.0.1:5432/postgres}
db=smallpay_explain
url="${admin%/*}/$db"
psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
cargo build -q
DATABASE_URL="$url" target/debug/smallpay migrate >/dev/null 2>&1

psql -q -v ON_ERROR_STOP=1 "$url" <<'SQL' >/dev/null
-- 100 shops; the one we query, s-1, holds about 1 % of the payouts, like a real tenant.
INSERT INTO shops SELECT 's-' || i, 'Shop ' || i, false, true, false, 'Asia/Shanghai',
  500000, 200000, 20000, 5000, 100000000, now(), now() FROM generate_series(1, 100) i;
INSERT INTO accounts SELECT 's-' || s, 'a-' || a, 'A' || a, 'CS', now(), now()
  FROM generate_series(1, 100) s, generate_series(1, 10) a;
INSERT INTO orders (order_sn, shop_id, buyer_id, goods_id, goods_name, activity_goods, paid_amount_fen, grouped_at, refunded, created_at, updated_at)
  SELECT 'O-' || i, 's-' || (1 + i % 100), 'b-' || i, 'G-' || (i % 500), 'Goods', false, 9900, now(), false, now(), now()
  FROM generate_series(1, 200000) i;
INSERT INTO payouts (shop_id, order_sn, goods_id, buyer_id, type, amount_fen, reason, message, status, funding,
                     applicant_id, uses_quota, created_at, committed_at, deducted_at, refund_status, updated_at)
  SELECT 's-' || (1 + o % 100), 'O-' || o, 'G-' || (o % 500), 'b-' || o,
         (ARRAY['SHIPPING_FEE','PRICE_DIFFERENCE','OTHER'])[1 + i % 3], 100 + i % 5000, 'r', 'm',
         (ARRAY['SUCCEEDED','SUCCEEDED','SUCCEEDED','PAYING','FAILED','CLOSED','PENDING_APPROVAL','REJECTED','RECHARGE_FAILED','PENDING_RECHARGE'])[1 + i % 10],
         'BALANCE', 'a-' || (1 + i % 10), true,
         timestamptz '2026-01-01' + i * interval '25 seconds', timestamptz '2026-01-01' + i * interval '25 seconds',
         timestamptz '2026-01-01' + i * interval '25 seconds', 'NONE', now()
  FROM (SELECT i, 1 + (i::bigint * 7919) % 200000 AS o FROM generate_series(1, 1000000) i) g;
VACUUM ANALYZE;
SQL

cols='id, shop_id, order_sn, goods_id, status, amount_fen, created_at'
run() {
  local name=$1 where=$2 order=${3:-DESC}
  printf '\n### %s\n\n```\n' "$name"
  psql -qAt "$url" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) SELECT $cols FROM payouts WHERE shop_id = 's-1'$where ORDER BY id $order LIMIT 21"
  printf -- '-- totalCount\n'
  psql -qAt "$url" -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT COUNT(*) FROM payouts WHERE shop_id = 's-1'$where"
  printf '```\n'
}

printf '# EXPLAIN ANALYZE of the payout history on 1,000,000 payouts\n\n'
printf 'Recorded by `scripts/explain-history.sh` on %s, PostgreSQL %s; 100 shops, the queried shop\n' \
  "$(date -u +%Y-%m-%d)" "$(psql -qAt "$url" -c 'SHOW server_version')"
printf 'holds %s payouts. Each filter: the page query (`first: 20` fetches 21 rows) and its count.\n' \
  "$(psql -qAt "$url" -c "SELECT count(*) FROM payouts WHERE shop_id = 's-1'")"
run "no filter" ""
run "orderSn" " AND order_sn = 'O-200'"
run "goodsId" " AND goods_id = 'G-101'"
run "applicantId" " AND applicant_id = 'a-3'"
run "deductedFrom / deductedTo" " AND deducted_at >= '2026-03-01' AND deducted_at < '2026-03-02'"
run "status" " AND status IN ('FAILED', 'PENDING_APPROVAL')"
run "type" " AND type = 'OTHER'"
run "goodsId + status + applicantId" " AND goods_id = 'G-101' AND status IN ('SUCCEEDED') AND applicant_id = 'a-2'"
run "after a cursor (page 50)" " AND id < 500000"
# Backward pages (`last`/`before`) read the same index the other way, then reverse the rows.
run "backward: the last page (last: 20)" "" ASC
run "backward: before a cursor" " AND id > 500000" ASC
run "backward: status, before a cursor" " AND status IN ('FAILED', 'PENDING_APPROVAL') AND id > 500000" ASC
printf '\n### the other side'"'"'s flag: one LIMIT 1 probe (hasPreviousPage after a cursor)\n\n```\n'
psql -qAt "$url" -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM payouts WHERE shop_id = 's-1' AND id >= 500000 LIMIT 1"
printf '```\n'
psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
