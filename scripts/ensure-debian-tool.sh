#!/usr/bin/env bash
# Make sure a program the tests need is installed: PROGRAM (a path, or a name on PATH), else Debian's PACKAGE.
#   scripts/ensure-debian-tool.sh PACKAGE PROGRAM
# The browser tests drive Debian's chromium with Playwright (CHROMIUM overrides its path); the backups e2e
# serves a restic REST repository with `rclone serve restic`; the quotas e2e makes a btrfs file system.
set -euo pipefail

package="$1" program="$2"
log() { printf '[%s] %s\n' "$package" "$*"; }
version() { "$program" --version 2>/dev/null | head -1 || echo "$program"; }

if command -v "$program" >/dev/null 2>&1; then
  log "$(version) is installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no $program and no way to install it here (need root and apt-get); install Debian's $package"
  exit 1
fi
log "installing Debian's $package"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
log "$(version)"
