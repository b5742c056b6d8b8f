"""The TLS front: Caddy in front of the proxy when DOMAIN is set, with ACME or the admin's certificate."""

from pathlib import Path

from appliance.layout import PUBLIC_PORT_INSIDE
from appliance.settings import Settings

CADDYFILE = Path("/run/appliance/Caddyfile")
ACME_DIRECTORIES = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
HSTS = "max-age=31536000"


def https_enabled(settings: Settings) -> bool:
    return bool(settings["DOMAIN"])


def acme_directory_url(choice: str) -> str:
    return ACME_DIRECTORIES.get(choice, choice)


def caddyfile(settings: Settings) -> str:
    """Caddy's config: certificates kept in DATA_DIR, HTTP redirected, HSTS, everything proxied to the hub."""
    global_options = [
        "admin off",
        f"storage file_system {settings['DATA_DIR']}/tls",
        f"acme_ca {acme_directory_url(settings['ACME_DIRECTORY'])}",
    ]
    if settings["ACME_CA_ROOT"]:
        global_options.append(f"acme_ca_root {settings['ACME_CA_ROOT']}")
    if settings["ACME_EMAIL"]:
        global_options.append(f"email {settings['ACME_EMAIL']}")
    site = [f'header Strict-Transport-Security "{HSTS}"', f"reverse_proxy 127.0.0.1:{PUBLIC_PORT_INSIDE}"]
    if settings["TLS_CERT"]:
        site.insert(0, f"tls {settings['TLS_CERT']} {settings['TLS_KEY']}")
    return "\n".join(
        ["{", *(f"\t{line}" for line in global_options), "}", "", f"{settings['DOMAIN']} {{"]
        + [f"\t{line}" for line in site]
        + ["}", ""]
    )


def write_caddyfile(settings: Settings) -> None:
    CADDYFILE.parent.mkdir(parents=True, exist_ok=True)
    CADDYFILE.write_text(caddyfile(settings))
