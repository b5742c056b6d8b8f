"""JupyterHub config of the appliance: all of it comes from the environment, through `appliance`."""

import os
from pathlib import Path

from appliance import share_checks
from appliance.client_addresses import own_addresses, trust_forwarded_headers_only_from
from appliance.hub_config import apply
from appliance.settings import load
from appliance.storage import backup_metrics, storage_metrics

settings = load(os.environ)
apply(settings, c)  # noqa: F821 - `c` is given by JupyterHub
# SHARING's rule, in the handlers that make shares and redeem share codes.
share_checks.install(settings["SHARING"])
# The backups' metrics and users' disk use join the hub's own at /hub/metrics.
backup_metrics.register(settings)
storage_metrics.register(settings)

# Client addresses in the log are the real ones: forwarded headers count only from this container's proxies.
proxies = own_addresses()
trust_forwarded_headers_only_from(proxies)
c.JupyterHub.trusted_downstream_ips = sorted(proxies)  # noqa: F821

# The escape hatch: admins' own config files, mounted into this folder, load last.
for extra_config in sorted(Path("/etc/jupyterhub/jupyterhub_config.d").glob("*.py")):
    load_subconfig(str(extra_config))  # noqa: F821 - given by JupyterHub
