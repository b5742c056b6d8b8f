# JupyterHub Appliance: `make test` sets up everything it needs and runs every test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# An older JupyterHub, whose databases (sqlite and PostgreSQL) the upgrade tests start from.
OLD_HUB := .cache/jupyterhub-5.4.6

.PHONY: test test-unit test-e2e images lint docs docs-site diagram lock engine browser rclone btrfs bench bench-scale bench-backup

test: lint docs-site test-unit images test-e2e

$(VENV)/.installed: requirements/test.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/test.txt
	touch $@

engine:
	scripts/ensure-docker.sh

browser:
	scripts/ensure-debian-tool.sh chromium $${CHROMIUM:-/usr/bin/chromium}

rclone:
	scripts/ensure-debian-tool.sh rclone rclone

# The quotas e2e makes a btrfs file system on a loop device.
btrfs:
	scripts/ensure-debian-tool.sh btrfs-progs mkfs.btrfs

$(OLD_HUB)/.installed-with-psycopg:
	python3 -m venv $(OLD_HUB)
	$(OLD_HUB)/bin/pip install --quiet jupyterhub==5.4.6 'psycopg[binary]==3.3.9'
	touch $@

images: engine
	scripts/build-images.sh

# Python (ruff; mypy over appliance/ and harness/), the Dockerfiles (hadolint), the workflows (actionlint), and the generated docs and versions.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile singleuser/Dockerfile systemuser/Dockerfile postgres/Dockerfile
	scripts/lint-workflows.sh
	$(PY) -m appliance docs

test-unit: $(VENV)/.installed
	$(PY) -m pytest -m "not e2e" tests/unit

test-e2e: $(VENV)/.installed $(OLD_HUB)/.installed-with-psycopg engine browser rclone btrfs
	$(PY) -m pytest -m e2e tests/e2e

# Spawn latency against the floor and a stock hub; prints a table, writes bench/results/. Not part of `make test`.
bench: $(VENV)/.installed images
	$(PY) -m bench.run

# Density: idle servers in waves up to 200 (or what memory allows), memory, latency, restart and pass times at
# 10/50/100/200 for the appliance and a stock hub; writes JSON, markdown and a plot to bench/results/. About
# 15 minutes on 2 cores; a small version runs in `make test`. Not part of `make test`.
bench-scale: $(VENV)/.installed images
	$(PY) -m bench.scale

# Backups of users' files: first and second restic backup of 1 GB across 20 users (1 % changed) against a plain
# tar of the same data, and one user's restore; writes bench/results/backup-*. A few minutes. Not part of `make test`.
bench-backup: $(VENV)/.installed images
	$(PY) -m bench.backup

docs: $(VENV)/.installed
	$(PY) -m appliance docs --write

# The documentation site (MkDocs with Material) from docs/, into build/docs-site; any warning (a broken link,
# a page missing from the navigation) fails it.
docs-site: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir build/docs-site

# The architecture picture, from its Graphviz source (needs `dot`: Debian's graphviz package).
diagram:
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

# Image locks are resolved for the Python of the images' Debian base (bookworm: 3.11.2).
# rfc3987-syntax (and its lark) is left out: jsonschema imports it only if present, and building its
# grammar at import cost every server and hub start about a second.
lock: $(VENV)/.installed
	cd requirements && for name in hub singleuser; do \
	  ../$(VENV)/bin/uv pip compile --quiet --upgrade --python-version 3.11.2 --python-platform linux \
	    --no-emit-package rfc3987-syntax --no-emit-package lark \
	    --no-header --no-annotate --output-file $$name.txt $$name.in; done
	cd requirements && ../$(VENV)/bin/uv pip compile --quiet --upgrade --no-header --no-annotate \
	  --output-file test.txt test.in
