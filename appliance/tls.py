"""The TLS front: Caddy in front of the proxy when DOMAIN is set, with ACME or the admin's certificate.

Caddy runs as its own unprivileged account, on unprivileged ports; `appliance run` (as root) gives it
what it must read and write: its storage in DATA_DIR, a config folder, and a private copy of a
supplied certificate and key.
"""

import os
import pwd
import shutil
from pathlib import Path

from appliance.declarations import Settings, present
from appliance.layout import HTTP_PORT_INSIDE, HTTPS_PORT_INSIDE, PUBLIC_PORT_INSIDE, TLS_FRONT_ACCOUNT

RUN_DIR = Path("/run/appliance")
CADDYFILE = RUN_DIR / "Caddyfile"
# Caddy's config folder (XDG_CONFIG_HOME in supervisord.conf) and its copies of a supplied certificate.
CADDY_HOME = RUN_DIR / "caddy"
SUPPLIED = RUN_DIR / "tls"
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
        f"http_port {HTTP_PORT_INSIDE}",
        f"https_port {HTTPS_PORT_INSIDE}",
        f"storage file_system {storage_of(settings)}",
        f"acme_ca {acme_directory_url(settings['ACME_DIRECTORY'])}",
    ]
    if settings["ACME_CA_ROOT"]:
        global_options.append(f"acme_ca_root {settings['ACME_CA_ROOT']}")
    if settings["ACME_EMAIL"]:
        global_options.append(f"email {settings['ACME_EMAIL']}")
    site = [f'header Strict-Transport-Security "{HSTS}"', f"reverse_proxy 127.0.0.1:{PUBLIC_PORT_INSIDE}"]
    if settings["TLS_CERT"]:
        site.insert(0, f"tls {SUPPLIED / 'cert.pem'} {SUPPLIED / 'key.pem'}")
    return "\n".join(
        ["{", *(f"\t{line}" for line in global_options), "}", "", f"{settings['DOMAIN']} {{"]
        + [f"\t{line}" for line in site]
        + ["}", ""]
    )


def storage_of(settings: Settings) -> Path:
    return Path(settings["DATA_DIR"]) / "tls"


class TlsFrontError(RuntimeError):
    """What Caddy needs could not be put in place."""


def prepare_tls_front(settings: Settings) -> None:
    """Write the Caddyfile, and give Caddy's account its storage, its config folder and the supplied certificate.

    Root here has no DAC_OVERRIDE. The certificate copies stay root's, readable by Caddy's group, so that
    every start can write them again; the two folders Caddy writes become its own (root cannot look inside
    them afterwards, and need not).
    """
    try:
        write_tls_front_files(settings, pwd.getpwnam(TLS_FRONT_ACCOUNT))
    except OSError as error:
        raise TlsFrontError(f"HTTPS cannot be set up (DOMAIN={settings['DOMAIN']}): {error}") from None


def write_tls_front_files(settings: Settings, account: pwd.struct_passwd) -> None:
    data_dir = Path(settings["DATA_DIR"])
    data_dir.chmod(data_dir.stat().st_mode | 0o001)  # Caddy may pass through to its storage, not list it
    SUPPLIED.mkdir(mode=0o750, parents=True, exist_ok=True)
    os.chown(SUPPLIED, 0, account.pw_gid)
    if settings["TLS_CERT"]:
        for source, name in ((settings["TLS_CERT"], "cert.pem"), (settings["TLS_KEY"], "key.pem")):
            shutil.copyfile(present(source), SUPPLIED / name)
            (SUPPLIED / name).chmod(0o640)
            os.chown(SUPPLIED / name, 0, account.pw_gid)
    CADDYFILE.write_text(caddyfile(settings))
    CADDYFILE.chmod(0o644)
    for folder in (storage_of(settings), CADDY_HOME):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != account.pw_uid:
            for path in (folder, *folder.rglob("*")):
                os.chown(path, account.pw_uid, account.pw_gid)
