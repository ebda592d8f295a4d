#!/usr/bin/env bash
# Mutation testing of the service code (issue 28): the files between the pure rules and the
# database — the day's sums, the snapshot the rules read, the lifecycle, delivery, approvals,
# cards and quotas — judged by what a developer runs before CI on SQLite: the unit tests and
# every API test, the model's 300 cases among them (`cargo nextest run --lib --test api`,
# which stops at the first failure). Each mutant is a rebuild and up to a full API run
# (2–4 minutes on two cores), so the whole 351 do not fit a session: by default this runs a
# sample — every 10th mutant of cargo-mutants' list (`--shard 0/10 --sharding round-robin`,
# which takes from every file in proportion), in a shuffled order so that a run stopped early
# is still a spread sample. `--shard k/10` for another tenth; `--shard 0/1` for all of them.
# The score and every missed mutant go in docs/testing.md ("Mutation testing of the service
# code"). Not in CI. Extra arguments go to cargo-mutants; the report is `mutants.out/` here.
#
# cargo-mutants replaces a function's body with a value of its return type, and knows a
# `Result` only by that name: for `AppResult<T>` (our alias of `Result<T, AppError>`) it
# tries `AppResult::new()` and the like, which never compile, and never `Ok(…)`. So the run
# is made on a scratch copy of the tree in which these files spell the alias out —
# `Result<T, crate::error::AppError>`, the same type on the same line — and cargo-mutants
# tries `Ok(())`, `Ok(Default::default())`, `Ok(vec![])`… as for any `Result`.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICE=(
  src/payouts/snapshot.rs
  src/payouts/totals.rs
  src/payouts/lifecycle.rs
  src/payouts/delivery.rs
  src/approvals/service.rs
  src/cards/service.rs
  src/quotas/service.rs
)

if ! command -v cargo-mutants >/dev/null; then
  cargo install --locked cargo-mutants
fi
if ! command -v cargo-nextest >/dev/null; then
  cargo install --locked cargo-nextest
fi

files=()
for f in "${SERVICE[@]}"; do files+=(-f "$f"); done
shard=(--shard 0/10)
if [[ " $* " == *" --shard "* || " $* " == *" --shard="* ]]; then shard=(); fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
tar -c --exclude=./target --exclude=./.git --exclude='./mutants.out*' . | tar -x -C "$scratch"
for f in "${SERVICE[@]}"; do
  # `AppResult<T>` → `Result<T, crate::error::AppError>`, brackets matched recursively.
  perl -0pi -e 's/\bAppResult(<((?:[^<>]|(?1))*)>)/Result<$2, crate::error::AppError>/g' "$scratch/$f"
done
# The tests must pass unmutated (run them first); the baseline is skipped to save its
# ten minutes, so the timeouts are set here: a full API run takes ~2.5 min alone. This tree's
# build, hard-linked into the copy, spares the dependencies' build.
if [[ -d target ]]; then cp -al target "$scratch/target"; fi
cargo mutants -d "$scratch" -o "$PWD" "${files[@]}" "${shard[@]}" --sharding round-robin --shuffle \
  --test-tool nextest --copy-target=true --baseline=skip --timeout 900 --build-timeout 1800 \
  "$@" -- --lib --test api
