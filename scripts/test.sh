#!/usr/bin/env bash
# Every test of the project, on one build of the dev profile: the Rust workspace (unit,
# snapshot, end-to-end over stdio), the Neovim end-to-end test in headless Neovim 0.11, and
# the VS Code extension's unit tests. With VSCODE_E2E=1 (as in CI, .ci/run), also the VS Code
# end-to-end test in code-server and headless Chromium: about 6 minutes of set-up the first time
# (installs chromium and libkrb5-dev with apt, Node 24 and code-server with npm, under
# editors/vscode/.e2e/tools), then about 70 s a run; alone: `editors/vscode/test/run.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Formatting is settled by rustfmt.toml; a tree that is not formatted fails here first.
rustfmt --version >/dev/null 2>&1 || rustup component add rustfmt
echo "cargo fmt --all --check"
cargo fmt --all --check
# Lints settle style questions once; print_stdout is denied outside the command line (stdout is
# the LSP channel). A check build apart from the test build: about 3 minutes from clean.
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
echo "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The GPU check's steps on the CPU at tiny sizes, so that its first run on a lent GPU does not
# fail on a typo (scripts/gpu/device-check.sh; about a minute on the build above).
scripts/gpu/device-check.sh dry-run target/device-check-dry-run
# The editors' own lints: stylua for the plugin's Lua, and for the extension tsc in strict mode
# and typed ESLint (its `npm test` runs both).
(cd editors/nvim && npm ci --no-audit --no-fund --loglevel=error && npm run --silent lint)
ANNEAL_BIN="$PWD/target/debug/anneal" editors/nvim/test/run.sh
(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm test)
if [ "${VSCODE_E2E:-0}" = 1 ]; then
  ANNEAL_BIN="$PWD/target/debug/anneal" editors/vscode/test/run.sh
fi
