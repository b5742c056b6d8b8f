#!/usr/bin/env bash
# Make sure rclone is installed (Debian's package): the backups e2e serves a restic REST repository with
# `rclone serve restic`, a real server of restic's REST protocol, in a network namespace of the test.
set -euo pipefail

log() { printf '[rclone] %s\n' "$*"; }

if command -v rclone >/dev/null 2>&1; then
  log "$(rclone version 2>/dev/null | head -1) is installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no rclone and no way to install one here; install rclone (apt-get install rclone)"
  exit 1
fi
log "installing Debian's rclone"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null
log "$(rclone version | head -1)"
