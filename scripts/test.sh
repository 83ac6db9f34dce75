#!/usr/bin/env bash
# Every test of the project, on one build of the dev profile: the Rust workspace (unit,
# snapshot, end-to-end over stdio), the Neovim end-to-end test in headless Neovim 0.11, and
# the VS Code extension's unit tests. The VS Code end-to-end test in code-server takes ~8
# minutes to set up; run it with `editors/vscode/test/run.sh` (or VSCODE_E2E=1 here).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
ANNEAL_BIN="$PWD/target/debug/anneal" editors/nvim/test/run.sh
(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm test)
if [ "${VSCODE_E2E:-0}" = 1 ]; then
  ANNEAL_BIN="$PWD/target/debug/anneal" editors/vscode/test/run.sh
fi
