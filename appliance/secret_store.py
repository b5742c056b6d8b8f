"""The hub's secrets, each resolved as: explicit setting, else stored in DATA_DIR, else generated and stored."""

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.declarations import Settings, value_of
from appliance.kinds import Invalid
from appliance.layout import ADMIN_PASSWORD_FILE, BACKUP_PASSWORD_FILE, stored_secret_path
from appliance.settings import ADMIN_PASSWORD_MODES, BY_NAME


@dataclass(frozen=True)
class StoredSecret:
    name: str
    file_name: str
    generate: Callable[[], str]


STORED_SECRETS = (
    StoredSecret("JPY_COOKIE_SECRET", "cookie_secret", lambda: secrets.token_hex(32)),
    StoredSecret("CONFIGPROXY_AUTH_TOKEN", "proxy_auth_token", lambda: secrets.token_hex(32)),
    StoredSecret("JUPYTERHUB_CRYPT_KEY", "crypt_key", lambda: secrets.token_hex(32)),
    StoredSecret("ADMIN_PASSWORD", ADMIN_PASSWORD_FILE, lambda: secrets.token_urlsafe(32)),
    StoredSecret("BACKUP_PASSWORD", BACKUP_PASSWORD_FILE, lambda: secrets.token_urlsafe(32)),
)


STORED_BY_SETTING = {secret.name: secret for secret in STORED_SECRETS}


class StoredSecretError(Exception):
    """A stored secret that cannot be used; it is left as it is for the admin to look at."""


@dataclass(frozen=True)
class Resolved:
    values: dict[str, str]
    generated: tuple[str, ...]


def secret_path(data_dir: str, secret: StoredSecret) -> Path:
    return stored_secret_path(data_dir, secret.file_name)


def needed(settings: Settings) -> tuple[StoredSecret, ...]:
    """The secrets this configuration uses: the admin password only where admins log in with it, the backup
    password only where there is a backup repository."""
    unused = set()
    if settings["AUTH_MODE"] not in ADMIN_PASSWORD_MODES:
        unused.add("ADMIN_PASSWORD")
    if settings["BACKUP_REPOSITORY"] is None:
        unused.add("BACKUP_PASSWORD")
    return tuple(s for s in STORED_SECRETS if s.name not in unused)


def resolve(settings: Settings) -> Resolved:
    """Resolve every needed secret; store the ones generated now with mode 0600."""
    values, generated = {}, []
    for secret in needed(settings):
        explicit = value_of(settings, secret.name)
        if isinstance(explicit, str) and explicit:
            values[secret.name] = explicit
            continue
        path = secret_path(settings["DATA_DIR"], secret)
        stored = read_stored(path, secret)
        if stored is None:
            stored = secret.generate()
            write_private(path, stored)
            generated.append(secret.name)
        values[secret.name] = stored
    return Resolved(values, tuple(generated))


def read_stored(path: Path, secret: StoredSecret) -> str | None:
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    value = path.read_text().strip()
    try:
        BY_NAME[secret.name].kind(value)
    except Invalid as error:
        raise StoredSecretError(
            f"{path} holds a {secret.name} that is not valid ({error}). "
            f"Move it away to have a new one generated, or set {secret.name} explicitly."
        ) from None
    return value


def write_private(path: Path, value: str) -> None:
    """Write atomically, readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
