"""The rules between settings: problems that involve more than one, each with its fix, and the warnings shown at
start. The login and spawner modes bring their own (appliance.login, appliance.servers)."""

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from appliance.declarations import Problem, RawEnv, Setting, Settings, present, value_of
from appliance.kinds import Invalid
from appliance.login import LOGIN_MODES
from appliance.profiles import SWARM_ONLY_FIELDS
from appliance.redaction import without_credentials
from appliance.servers import SPAWNER_MODES
from appliance.settings.declared import BY_NAME, PASSWORD_MODES, SETTINGS
from appliance.sharing import assistant_problems
from appliance.storage.quotas import quota_homes, storage_problems


def chosen_in(environ: RawEnv, values: Settings) -> frozenset[str]:
    """The settings the environment sets to something other than their default (compared as parsed, so that
    `False` is `false`)."""
    return frozenset(
        setting.name
        for setting in SETTINGS
        if environ.get(setting.name) and not (setting.literal_default and at_default(setting, values))
    )


def at_default(setting: Setting, values: Settings) -> bool:
    try:
        return value_of(values, setting.name) == setting.kind(setting.literal_default)
    except Invalid:
        return False


def cross_checks(values: Settings, chosen: frozenset[str] = frozenset()) -> list[Problem]:
    """Problems that involve more than one setting."""
    problems = only_in_mode_problems(values, chosen)
    if values["AUTH_MODE"] in LOGIN_MODES:
        problems += LOGIN_MODES[values["AUTH_MODE"]].problems(values)
    if values["SPAWNER_MODE"] in SPAWNER_MODES:
        problems += SPAWNER_MODES[values["SPAWNER_MODE"]].problems(values)
    problems += tls_problems(values)
    problems += network_problems(values)
    problems += volume_template_problems(values["USER_VOLUME"])
    problems += profile_problems(values)
    problems += database_problems(values)
    problems += backup_problems(values, chosen)
    problems += assistant_problems(values)
    problems += storage_problems(values, chosen)
    return problems


def only_in_mode_problems(values: Settings, chosen: frozenset[str]) -> list[Problem]:
    """A setting of some modes only (its `applies_in`), chosen in another mode, is an error rather than ignored."""
    problems = []
    for name in sorted(chosen, key=list(BY_NAME).index):
        applies_in = BY_NAME[name].applies_in
        chosen_mode = value_of(values, applies_in.selector) if applies_in else None
        if applies_in and chosen_mode is not None and chosen_mode not in applies_in.modes:
            fix = f"unset it, or set {applies_in.selector}={applies_in.modes[0]}"
            problems.append(Problem(name, "(set)", f"only applies when {applies_in}", fix))
    return problems


def profile_problems(values: Settings) -> list[Problem]:
    """The profiles file against the other settings: it replaces ALLOWED_IMAGES, and Swarm's fields need swarm mode."""
    source = values["PROFILES_FILE"]
    if not source:
        return []
    shown_path = repr(source.path)
    problems = []
    if values["ALLOWED_IMAGES"]:
        problems.append(
            Problem(
                "ALLOWED_IMAGES",
                "(set)",
                f"cannot be used together with the profiles file {source.path}",
                "give each image a profile in the file, and unset ALLOWED_IMAGES",
            )
        )
    swarm = values["SPAWNER_MODE"] == "swarm"
    for profile in source.profiles:
        fields = [name for name in SWARM_ONLY_FIELDS if getattr(profile, name) not in (None, ())]
        if fields and not swarm:
            problems.append(
                Problem(
                    "PROFILES_FILE",
                    shown_path,
                    f"profile {profile.name!r} sets {', '.join(fields)}, which only apply when SPAWNER_MODE=swarm",
                    "remove them from the profile, or set SPAWNER_MODE=swarm",
                )
            )
        if profile.disk_quota and quota_homes(values) is None:
            homes = "SWARM_HOMES and USER_DISK_QUOTA" if swarm else "USER_STORAGE_DIR"
            needs = f"profile {profile.name!r} sets disk_quota, which needs {homes}"
            problems.append(Problem("PROFILES_FILE", shown_path, needs, f"set {homes}, or remove disk_quota"))
        if swarm and profile.gpus == "all":
            problems.append(
                Problem(
                    "PROFILES_FILE",
                    shown_path,
                    f"profile {profile.name!r} has gpus: all, which Swarm cannot schedule",
                    "give a number of GPUs or a list of device ids, which Swarm reserves as NVIDIA-GPU resources",
                )
            )
    return problems


def volume_template_problems(template: str | None) -> list[Problem]:
    """Two different (user, server) pairs must never render to one volume name.

    Names come in escaped to [a-z0-9-], where '-' always starts a '-XX' escape: text between the fields
    that holds another character, or '--', cannot occur inside a name, so it keeps them apart.
    """
    if not template:
        return []
    fields = re.findall(r"\{(\w+)\}", template)
    if "username" not in fields:
        return [Problem("USER_VOLUME", repr(template), "has no {username}, so every user would share one volume",
                        "put {username} in it, such as jupyterhub-user-{username}")]  # fmt: skip
    if "servername" not in fields:
        return []
    between = re.search(r"\{username\}(.*?)\{servername\}|\{servername\}(.*?)\{username\}", template)
    separator = next((part for part in between.groups() if part is not None), "") if between else ""
    if re.search(r"[^a-z0-9-]|--", separator):
        return []
    return [
        Problem(
            "USER_VOLUME",
            repr(template),
            f"{{username}} and {{servername}} are separated by {separator!r}, which can occur inside user and server "
            "names, so two different servers could share one volume (with nothing between them, user 'a' with "
            "server 'b' and user 'ab')",
            "separate them with '--' or '_', such as jupyterhub-user-{username}--{servername}",
        )
    ]


def plain_http_warning(values: Settings) -> str | None:
    """Passwords typed into a hub served over plain HTTP on a network interface cross that network in clear."""
    loopback = ipaddress.ip_address(values["HUB_BIND"]).is_loopback
    https = (values["PUBLIC_URL"] or "").startswith("https://")
    if values["AUTH_MODE"] not in PASSWORD_MODES or https or loopback:
        return None
    return (
        f"WARNING: the hub takes passwords over plain HTTP on {values['HUB_BIND']}:{values['HUB_PORT']}: anyone on "
        "the network path can read them. Set DOMAIN for HTTPS (compose/https.yml), or HUB_BIND=127.0.0.1 behind "
        "your own HTTPS reverse proxy with PUBLIC_URL=https://…"
    )


def egress_allow_warning(values: Settings) -> str | None:
    """Allow entries that overlap link-local: legitimate (a wide range), but that part stays blocked; say so."""
    link_local = ipaddress.IPv4Network("169.254.0.0/16")
    overlapping = [
        str(r) for r in values["USER_EGRESS_ALLOW"] or () if ipaddress.IPv4Network(r.network).overlaps(link_local)
    ]
    if not overlapping:
        return None
    return (
        f"Note: USER_EGRESS_ALLOW entries {', '.join(overlapping)} overlap link-local 169.254.0.0/16 (the cloud "
        "metadata address). No allow entry opens link-local addresses, other user servers, the hub's other ports "
        "or the Docker host; the rest of each entry is open."
    )


def database_problems(values: Settings) -> list[Problem]:
    """A password file is for PostgreSQL, and only one password may be given."""
    url = values["DATABASE_URL"]
    if not values["DATABASE_PASSWORD_FILE"] or not url:
        return []
    if not url.startswith("postgresql"):
        return [Problem("DATABASE_PASSWORD_FILE", "(set)", "only applies to a postgresql:// DATABASE_URL")]
    if urlsplit(url).password is not None:
        return [
            Problem(
                "DATABASE_URL",
                repr(without_credentials(url)),
                "has a password, and DATABASE_PASSWORD_FILE gives another",
                "keep one of them",
            )
        ]
    return []


def network_problems(values: Settings) -> list[Problem]:
    """The egress policy is part of isolation (where isolation cannot be enforced, the spawner mode says so)."""
    if values["USER_NETWORK_ISOLATION"] == "on":
        return []
    problems = []
    if values["USER_EGRESS"] != BY_NAME["USER_EGRESS"].literal_default:
        problems.append(Problem("USER_EGRESS", repr(values["USER_EGRESS"]), "needs USER_NETWORK_ISOLATION=on"))
    if values["USER_EGRESS_ALLOW"]:
        problems.append(Problem("USER_EGRESS_ALLOW", "(set)", "needs USER_NETWORK_ISOLATION=on"))
    return problems


def tls_problems(values: Settings) -> list[Problem]:
    """A supplied certificate needs its key and a domain, and the two files must belong together."""
    cert, key = values["TLS_CERT"], values["TLS_KEY"]
    if bool(cert) != bool(key):
        missing = "TLS_KEY" if cert else "TLS_CERT"
        return [Problem(missing, "(unset)", "TLS_CERT and TLS_KEY go together", f"set {missing} too, or neither")]
    if not cert:
        return []
    problems = []
    if not values["DOMAIN"]:
        problems.append(
            Problem("DOMAIN", "(unset)", "is required with TLS_CERT", "set it to the name the certificate is for")
        )
    mismatch = certificate_key_mismatch(cert, present(key))
    if mismatch:
        problems.append(mismatch)
    return problems


def certificate_key_mismatch(cert_path: str, key_path: str) -> Problem | None:
    """Why the certificate and key files do not belong together, or None when they do."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except ValueError:
        return Problem("TLS_CERT", repr(cert_path), "is not a PEM certificate", "give the PEM certificate chain")
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (ValueError, TypeError):
        return Problem("TLS_KEY", repr(key_path), "is not an unencrypted PEM private key", "give the PEM key")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if key.public_key().public_bytes(encoding, public) != certificate.public_key().public_bytes(encoding, public):
        return Problem(
            "TLS_KEY", repr(key_path), f"does not belong to the certificate in {cert_path}", "give TLS_CERT's own key"
        )
    return None


BACKUP_OPTIONS = ("BACKUP_PASSWORD", "BACKUP_SCHEDULE", "BACKUP_KEEP", "BACKUP_SHARED_VOLUMES")
S3_KEYS = ("BACKUP_S3_ACCESS_KEY_ID", "BACKUP_S3_SECRET_ACCESS_KEY")


def backup_problems(values: Settings, chosen: frozenset[str]) -> list[Problem]:
    """Backups of users' volumes need a repository, and docker mode (where users' files are volumes)."""
    repository = values["BACKUP_REPOSITORY"]
    if repository is None:
        return [
            Problem(name, "set", "means nothing without BACKUP_REPOSITORY", "set BACKUP_REPOSITORY, or unset it")
            for name in (*BACKUP_OPTIONS, *S3_KEYS)
            if name in chosen
        ]
    s3 = str(repository).startswith("s3:")
    for name in S3_KEYS:
        if s3 and not value_of(values, name):
            return [Problem(name, "unset", "an s3: BACKUP_REPOSITORY needs both keys", "set the bucket's keys")]
        if not s3 and value_of(values, name):
            return [Problem(name, "set", "is only for an s3: BACKUP_REPOSITORY", "unset it")]
    if values["SPAWNER_MODE"] != "docker":
        return [
            Problem(
                "BACKUP_REPOSITORY",
                str(repository),
                f"backs up users' volumes, which only SPAWNER_MODE=docker has (not {values['SPAWNER_MODE']})",
                "back up the homes (system mode) or SWARM_HOMES (swarm mode) on the host, and unset it",
            )
        ]
    return []
