#!/usr/bin/env bash
# Build every image of the appliance, reusing Docker's layer cache.
# EXTRA_CA_CERTS=/path/bundle.crt puts a CA bundle into the build (for TLS-intercepting proxies).
# BUILD_FLAGS (say --no-cache) go to every docker build; the bench uses it to time cold builds.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
VERSION="$(python3 -c 'import appliance; print(appliance.__version__)')"
# The names compose uses: IMAGE_REGISTRY/jupyterhub-appliance-KIND:VERSION (appliance/images.py).
image_name() {
  python3 -c 'import sys; from appliance.images import DEFAULT_REGISTRY, image_name
print(image_name(sys.argv[1], sys.argv[2] or DEFAULT_REGISTRY))' "$1" "${IMAGE_REGISTRY:-}"
}
HUB_IMAGE="${HUB_IMAGE:-$(image_name hub)}"
SINGLEUSER_IMAGE="${SINGLEUSER_IMAGE:-$(image_name singleuser)}"
SYSTEMUSER_IMAGE="${SYSTEMUSER_IMAGE:-$(image_name systemuser)}"
POSTGRES_IMAGE="${POSTGRES_IMAGE:-$(image_name postgres)}"

log() { printf '[images] %s\n' "$*"; }

# Behind a TLS-intercepting proxy the host's pip CA bundle is what reaches PyPI; the builds need it too.
if [ -z "${EXTRA_CA_CERTS:-}" ] && [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  EXTRA_CA_CERTS="$PIP_CERT"
fi
if [ -n "${EXTRA_CA_CERTS:-}" ]; then
  log "trusting the CA bundle $EXTRA_CA_CERTS in the builds"
  cp "$EXTRA_CA_CERTS" extra-ca-certs/extra-ca-bundle.crt
fi

scripts/ensure-base-image.sh "$BASE_IMAGE"

build() {
  local image="$1" dockerfile="$2" started=$SECONDS
  shift 2
  log "building $image from $dockerfile $*"
  # shellcheck disable=SC2086 # BUILD_FLAGS is a list of flags
  docker build ${BUILD_FLAGS:-} --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg APPLIANCE_VERSION="$VERSION" \
    -f "$dockerfile" -t "$image" "$@" .
  log "built $image in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
}

build "$HUB_IMAGE" Dockerfile
build "$SINGLEUSER_IMAGE" singleuser/Dockerfile
build "$SYSTEMUSER_IMAGE" systemuser/Dockerfile --build-arg LAB_IMAGE="$SINGLEUSER_IMAGE"
build "$POSTGRES_IMAGE" postgres/Dockerfile
