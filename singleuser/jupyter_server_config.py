"""The appliance's settings of this image's server, from the environment the hub gives each server
(appliance.sharing.server_environment). A server started without them keeps Jupyter's own defaults."""

import os

# How long the server trusts the hub's word about a visitor: a revoked share ends within it (SHARING).
c.HubOAuth.cache_max_age = int(os.environ.get("APPLIANCE_AUTH_CACHE_SECONDS", "300"))  # noqa: F821 - given by Jupyter
# COLLABORATION=off: jupyter-collaboration's own switch, which JupyterLab's side of it follows too.
c.YDocExtension.disable_rtc = os.environ.get("APPLIANCE_COLLABORATION", "on") == "off"  # noqa: F821
# LTI_PLATFORM_ORIGINS: the LMS may show JupyterLab in its frame (appliance.login.lti13), where browsers send only
# SameSite=None, Secure and Partitioned cookies; http.cookies writes Partitioned from Python 3.14 on.
if "APPLIANCE_CONTENT_SECURITY_POLICY" in os.environ:
    import http.cookies

    http.cookies.Morsel._reserved.setdefault("partitioned", "Partitioned")
    http.cookies.Morsel._flags.add("partitioned")
    cross_site_cookie = {"samesite": "None", "secure": True, "partitioned": True}
    c.HubOAuth.cookie_options = cross_site_cookie  # noqa: F821
    c.ServerApp.tornado_settings = {  # noqa: F821
        "headers": {"Content-Security-Policy": os.environ["APPLIANCE_CONTENT_SECURITY_POLICY"]},
        "xsrf_cookie_kwargs": cross_site_cookie,
    }
