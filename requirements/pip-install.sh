#!/bin/sh
# Installs a lock file in an image build. When pip fails because a TLS certificate could not be checked
# (a TLS-intercepting proxy, with its own certificate authority), it says how to give the build that CA.
set -u
lock="$1"
log="$(mktemp)"
if pip install --no-deps --log "$log" -r "$lock"; then
  rm -f "$log"
  exit 0
fi
if grep -q "CERTIFICATE_VERIFY_FAILED" "$log"; then
  cat >&2 <<'HINT'
========================================================================
pip could not check PyPI's TLS certificate: this network intercepts TLS with a
certificate authority of its own. Give the build that CA, then build again:
  cp /etc/ssl/certs/ca-certificates.crt extra-ca-certs/extra-ca-bundle.crt
  docker compose build && docker compose up -d
(the host's bundle holds the network's CA once the host trusts it; any PEM file
with it will do). `make images EXTRA_CA_CERTS=/path/to/bundle.crt` does the same.
========================================================================
HINT
fi
rm -f "$log"
exit 1
