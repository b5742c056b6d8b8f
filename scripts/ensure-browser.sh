#!/usr/bin/env bash
# Make sure a Chromium for the browser tests is installed (Debian's package; Playwright drives it).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
log() { printf '[browser] %s\n' "$*"; }

if [ -x "$CHROMIUM" ]; then
  log "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") is installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no Chromium at $CHROMIUM and no way to install one here; install chromium or set CHROMIUM=/path"
  exit 1
fi
log "installing Debian's chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
log "$("$CHROMIUM" --version)"
