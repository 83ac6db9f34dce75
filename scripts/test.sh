#!/usr/bin/env bash
# Every test of the project: the Rust workspace (unit, snapshot, end-to-end over stdio) and the
# Neovim end-to-end test, all on one build of the dev profile.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
if [ -x editors/nvim/test/run.sh ]; then
  ANNEAL_BIN="$PWD/target/debug/anneal" editors/nvim/test/run.sh
fi
