"""The appliance's settings of this image's server, from the environment the hub gives each server
(appliance.sharing.server_environment). A server started without them keeps Jupyter's own defaults."""

import os

# How long the server trusts the hub's word about a visitor: a revoked share ends within it (SHARING).
c.HubOAuth.cache_max_age = int(os.environ.get("APPLIANCE_AUTH_CACHE_SECONDS", "300"))  # noqa: F821 - given by Jupyter
# COLLABORATION=off: jupyter-collaboration's own switch, which JupyterLab's side of it follows too.
c.YDocExtension.disable_rtc = os.environ.get("APPLIANCE_COLLABORATION", "on") == "off"  # noqa: F821
