"""The public front: HTTPS through Caddy when DOMAIN is set (its config written at start), and a warning where
passwords would cross a network in clear."""

from appliance.declarations import Outcome, Report, Settings, passed, warned
from appliance.settings import plain_http_warning
from appliance.tls import https_enabled, prepare_tls_front


def prepare_front(settings: Settings, say: Report) -> dict[str, str]:
    """Caddy's config when HTTPS is on; supervisord starts the TLS front only then."""
    if https_enabled(settings):
        prepare_tls_front(settings)
    if warning := plain_http_warning(settings):
        say(warning)
    return {"APPLIANCE_TLS_FRONT": str(https_enabled(settings)).lower()}


def check_plain_http(settings: Settings) -> Outcome:
    warning = plain_http_warning(settings)
    if warning:
        fix = "set DOMAIN, or HUB_BIND=127.0.0.1 behind your own HTTPS proxy"
        return warned(warning.removeprefix("WARNING: "), fix)
    return passed("passwords do not cross a network in clear (HTTPS, loopback only, or no password login)")
