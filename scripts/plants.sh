#!/usr/bin/env bash
# Plants one realistic bug at a time in the service code (not the pure rule files), runs what
# a developer runs before CI — `cargo test` on SQLite: the unit tests, every API test and the
# reference model's fixed-seed cases — and puts the file back. Prints, for each plant, whether
# it was caught and by which tests (issue 28; the table in docs/testing.md). Not in CI: each
# plant is a rebuild and a whole test run (2–3 minutes on 2 cores after the first build).
#
#   scripts/plants.sh               # every plant
#   PLANTS="5 7" scripts/plants.sh  # some of them, by number
#   DRY=1 scripts/plants.sh         # only show each plant's diff
#   MODEL=100 scripts/plants.sh     # judged by the model alone: its first 100 cases from the
#                                   # fixed seed, without the recorded regressions (issue 28:
#                                   # every plant should fall within 100 cases)
#
# It works on a copy of the tree (a git worktree of HEAD in a temporary directory), so the
# checkout stays untouched and a crash leaves nothing planted. The copy builds into
# target/plants, never target/: cargo names a workspace crate's artifacts by its path inside
# the workspace, so the copy's planted build would overwrite the checkout's under the same
# names and, being newer than the checkout's sources, pass for fresh there (seen once: a later
# `cargo test` in the checkout ran the last plant).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# number|file|what it breaks|exact text|replacement
PLANTS_TABLE=(
  "1|src/payouts/totals.rs|FAILED payouts dropped from the day's sums|    if p.status == PayoutStatus::RechargeFailed {|    if p.status == PayoutStatus::RechargeFailed \|\| p.status == PayoutStatus::Failed {"
  "2|src/payouts/snapshot.rs|limits judged on Shanghai's day instead of the shop's|    let (from, to) = day_bounds(tz, now);|    let (from, to) = day_bounds(chrono_tz::Asia::Shanghai, now);"
  "3|src/payouts/totals.rs|an approved request uses the applicant's quota|        quota: if p.uses_quota { amount } else { 0 },|        quota: if p.uses_quota \|\| (p.approver_id.is_some() && p.funding == Some(FundingMethod::Balance)) { amount } else { 0 },"
  "4|src/payouts/lifecycle.rs|refund's 3 business days counted in the server's zone|    let refund_due = rules::add_business_days(now, tz, rules::REFUND_BUSINESS_DAYS);|    let refund_due = rules::add_business_days(now, default_tz, rules::REFUND_BUSINESS_DAYS);"
  "5|src/payouts/snapshot.rs|a CLOSED payout gives its attempt back|    let applications = payouts.iter().filter(\|p\| rules::counts_as_application(p.status)).count();|    let applications = payouts.iter().filter(\|p\| rules::counts_as_application(p.status) && p.status != crate::domain::vocab::PayoutStatus::Closed).count();"
  "6|src/payouts/lifecycle.rs|scan payouts never credited at refund|    ledger::append(tx, credit).await?.ok_or_else(\|\| AppError::Internal(\"a credit cannot overdraw\".into()))?;|    if p.funding == Some(crate::domain::vocab::FundingMethod::Balance) { ledger::append(tx, credit).await?.ok_or_else(\|\| AppError::Internal(\"a credit cannot overdraw\".into()))?; }"
  "7|src/payouts/snapshot.rs|the 60 s rule ignores REJECTED payouts|        last_payout_created_at: payouts.iter().map(\|p\| p.created_at).max(),|        last_payout_created_at: payouts.iter().filter(\|p\| p.status != crate::domain::vocab::PayoutStatus::Rejected).map(\|p\| p.created_at).max(),"
)

wanted=${PLANTS:-1 2 3 4 5 6 7}
work=$(mktemp -d /tmp/smallpay-plants.XXXXXX)
git worktree add -q --detach "$work/tree" HEAD
trap 'git -C "$root" worktree remove --force "$work/tree"; rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$root/target/plants"
unset TEST_POSTGRES_URL

results=()
for wanted_n in $wanted; do
  entry=${PLANTS_TABLE[$((wanted_n - 1))]:?no plant $wanted_n}
  IFS='|' read -r n file what from to <<<"${entry//\\|/$'\x1f'}"
  from=${from//$'\x1f'/|}
  to=${to//$'\x1f'/|}
  (cd "$work/tree" && git checkout -q -- .)
  FROM=$from TO=$to python3 - "$work/tree/$file" <<'PY'
import os, sys
path = sys.argv[1]
text = open(path).read()
old, new = os.environ["FROM"], os.environ["TO"]
if text.count(old) != 1:
    sys.exit(f"plant: the text to change is not in {path} exactly once (the code moved: update scripts/plants.sh)")
open(path, "w").write(text.replace(old, new))
PY
  echo "== plant $n ($file): $what" >&2
  if [ -n "${DRY:-}" ]; then (cd "$work/tree" && git diff); continue; fi
  started=$(date +%s)
  log="$work/plant-$n.log"
  if [ -n "${MODEL:-}" ]; then
    (cd "$work/tree" && SMALLPAY_MODEL_CASES=$MODEL SMALLPAY_MODEL_REGRESSIONS=0 cargo test --locked --test api \
      -- model::the_lifecycle_follows_the_reference_model_sqlite >"$log" 2>&1) || true
  else
    (cd "$work/tree" && cargo test --locked --no-fail-fast --lib --test api >"$log" 2>&1) || true
  fi
  took=$(($(date +%s) - started))
  if grep -q '^error: could not compile' "$log"; then
    echo "plant $n does not compile:" >&2
    grep -A5 '^error' "$log" | head -20 >&2
    exit 1
  fi
  # libtest lists the failed tests after "failures:" as indented names.
  failed=$(awk '/^failures:$/ {f = 1; next} f && /^    [a-z_:0-9]+$/ {print $1} /^test result:/ {f = 0}' "$log" | sort -u)
  count=$(printf '%s' "$failed" | grep -c . || true)
  if [ "$count" -gt 0 ]; then verdict="caught by $count test(s)"; else verdict="SURVIVED"; fi
  if [ -n "${MODEL:-}" ] && [ "$count" -gt 0 ]; then
    # The failing case and its batch (100 cases: 12 on each daylight-saving start, seeds 1000016
    # and 1000017, run first, then 76 from seed 16).
    verdict="caught: $(grep -o 'model case [0-9]* of batch seed [0-9]*' "$log" | head -1)"
  fi
  echo "   $verdict in ${took} s" >&2
  [ -n "$failed" ] && printf '     %s\n' $failed >&2
  results+=("| $n | $what (\`$file\`) | $verdict: $(printf '%s' "$failed" | tr '\n' ' ' | sed 's/ $//; s/ /, /g') |")
done
(cd "$work/tree" && git checkout -q -- .)

echo
if [ -n "${MODEL:-}" ]; then
  echo "| # | planted bug | the model, first $MODEL cases (SQLite) |"
else
  echo "| # | planted bug | \`cargo test\` (SQLite: unit, API, model) |"
fi
echo "|---:|---|---|"
printf '%s\n' "${results[@]}"
