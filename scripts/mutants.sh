#!/usr/bin/env bash
# Mutation testing of the pure rules with the unit tests alone: cargo-mutants changes the rule
# files one mutation at a time (an operator, a constant, a function's body) and runs
# `cargo test --lib`; a mutant the unit tests do not notice is "missed". The score is recorded
# in docs/testing.md. Extra arguments go to cargo-mutants, e.g. `--in-diff change.diff` (only
# the mutants on changed lines, as .ci/run does) or `-f src/domain/money.rs` (one file).
set -euo pipefail
cd "$(dirname "$0")/.."

RULES=(
  src/domain/payout/mod.rs
  src/domain/money.rs
  src/domain/contact.rs
  src/domain/card.rs
  src/domain/shop.rs
  src/domain/create.rs
)

if ! command -v cargo-mutants >/dev/null; then
  cargo install --locked cargo-mutants
fi

files=()
if [[ " $* " != *" -f "* && " $* " != *" --file "* ]]; then
  for f in "${RULES[@]}"; do files+=(-f "$f"); done
fi
# --copy-target: start from this tree's build instead of a cold one.
exec cargo mutants "${files[@]}" --copy-target=true --timeout-multiplier 3 --cargo-arg=--lib "$@"
