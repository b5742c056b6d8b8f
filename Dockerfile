# The hub image: JupyterHub, dockerspawner, oauthenticator and the proxy, run by supervisord.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/appliance \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# Extra CA certificates (empty by default) are trusted during the build and at run time.
# iptables: the helper containers that write each user server's network rules run this image.
# postgresql-client-15: pg_dump and pg_restore, for backups and upgrades of a PostgreSQL database.
# restic: the helper containers that back users' volumes up run this image.
COPY extra-ca-certs/ /usr/local/share/ca-certificates/extra/
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv node-configurable-http-proxy caddy \
      iptables postgresql-client-15 restic btrfs-progs \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# Bytecode is compiled here: the hub's root filesystem is read-only when it runs.
COPY requirements/hub.txt requirements/pip-install.sh /tmp/
RUN python3 -m venv /opt/venv \
 && sh /tmp/pip-install.sh /tmp/hub.txt \
 && pip uninstall --yes --quiet pip setuptools \
 && rm /tmp/hub.txt /tmp/pip-install.sh \
 && python3 -m compileall -q -j 0 /opt/venv/lib

COPY hub-image/jupyterhub_config.py hub-image/supervisord.conf /etc/jupyterhub/
COPY hub-image/with-only-env /usr/local/bin/
COPY appliance/ /opt/appliance/appliance/
RUN python3 -m compileall -q /opt/appliance \
 && printf '#!/bin/sh\nexec python3 -m appliance "$@"\n' >/usr/local/bin/appliance \
 && chmod 0755 /usr/local/bin/appliance \
 && mkdir -p /etc/jupyterhub/jupyterhub_config.d /data

# The version comes last, so that a new version reuses every layer above.
ARG APPLIANCE_VERSION=0.2.0
LABEL org.opencontainers.image.title="jupyterhub-appliance-hub" \
      org.opencontainers.image.description="JupyterHub configured by environment variables, spawning user containers" \
      org.opencontainers.image.version="${APPLIANCE_VERSION}" \
      org.opencontainers.image.licenses="BSD-3-Clause"
VOLUME /data
EXPOSE 8000 8080 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/hub/health', timeout=4)"]
ENTRYPOINT ["appliance"]
CMD ["run"]
