"""The appliance's settings of this image's server, from the environment the hub gives each server
(appliance.sharing.server_environment). A server started without them keeps Jupyter's own defaults."""

import os

# How long the server trusts the hub's word about a visitor: a revoked share ends within it (SHARING).
c.HubOAuth.cache_max_age = int(os.environ.get("APPLIANCE_AUTH_CACHE_SECONDS", "300"))  # noqa: F821 - given by Jupyter
# COLLABORATION=off: jupyter-collaboration's own switch, which JupyterLab's side of it follows too.
c.YDocExtension.disable_rtc = os.environ.get("APPLIANCE_COLLABORATION", "on") == "off"  # noqa: F821
# LTI_PLATFORM_ORIGINS: the LMS may show JupyterLab in its frame (appliance.login.lti13), where browsers send only
# SameSite=None, Secure and Partitioned cookies; http.cookies writes Partitioned from Python 3.14 on. The image has no
# appliance package: this repeats the hub's CROSS_SITE_COOKIE and allow_partitioned_cookies (appliance.auth.lti13).
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

# Homes with quotas: the home is a btrfs subvolume whose use and quota the kernel shows in sysfs
# (APPLIANCE_HOME_QGROUP); statvfs shows the whole file system instead. jupyter-resource-usage's status bar item (and
# anything else in this server that asks psutil about the home) gets the quota's figures, in red from 90 % on
# (disk_warning_threshold).
if "APPLIANCE_HOME_QGROUP" in os.environ:
    from collections import namedtuple

    import psutil

    DiskUsage = namedtuple("DiskUsage", "total used free percent")
    statvfs_usage = psutil.disk_usage
    home = os.path.realpath(os.environ.get("HOME", "/home/jovyan"))

    def home_quota_usage(path):
        if os.path.realpath(path) != home:
            return statvfs_usage(path)
        qgroup = os.environ["APPLIANCE_HOME_QGROUP"]
        try:
            with open(f"{qgroup}/referenced") as used_file, open(f"{qgroup}/max_referenced") as limit_file:
                used, total = int(used_file.read()), int(limit_file.read())
        except OSError:  # another kernel's file system: a swarm node that reaches SWARM_HOMES over NFS, say
            return statvfs_usage(path)
        if total <= 0:  # no limit after all
            return statvfs_usage(path)
        return DiskUsage(total, used, max(total - used, 0), round(100 * used / total, 1))

    psutil.disk_usage = home_quota_usage
    c.ResourceUseDisplay.track_disk_usage = True  # noqa: F821
    c.ResourceUseDisplay.disk_path = home  # noqa: F821
    c.ResourceUseDisplay.disk_warning_threshold = 0.1  # noqa: F821
