#!/usr/bin/env python3
"""As docker-stacks' healthcheck: the server answers its API on its own port."""

import os
import urllib.request

prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
urllib.request.urlopen(f"http://127.0.0.1:8888{prefix}api", timeout=1)
