"""Every environment variable of the appliance, declared once, and `load()` that checks them all.

The declarations drive parsing, validation, `appliance check`, docs/settings.md, the README's main
settings and `.env.example`.
"""

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from appliance import __version__
from appliance.declarations import (
    Problem,
    RawEnv,
    Setting,
    Settings,
    in_login_modes,
)
from appliance.images import DEFAULT_REGISTRY, image_name
from appliance.kinds import (
    DOCKER_NAME,
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_DESCRIBED,
    AbsolutePath,
    ByteSize,
    Choice,
    DatabaseUrl,
    EgressRules,
    ExistingFile,
    Flag,
    Integer,
    Invalid,
    IpAddress,
    NameList,
    PositiveNumber,
    Template,
    Text,
    Url,
)
from appliance.login import LOGIN_MODES
from appliance.profiles import DEFAULT_PROFILES_FILE, SWARM_ONLY_FIELDS, ProfilesFileKind
from appliance.servers import SPAWNER_MODES

DOMAIN_NAME = r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}"
STANDARD_HTTPS_PORT = 443

# Derived defaults, from the parsed values of other settings (None where unset or invalid); one that
# reads another derived default is declared after it.


def auth_mode_of(values: Settings) -> str:
    return "github" if values["GITHUB_CLIENT_ID"] else "password"


# The modes in which admins log in with ADMIN_PASSWORD (native: their accounts' first password).
ADMIN_PASSWORD_MODES = tuple(name for name, mode in LOGIN_MODES.items() if mode.admin_password)
# The modes whose login page takes a password.
PASSWORD_MODES = tuple(name for name, mode in LOGIN_MODES.items() if mode.takes_passwords)


def admin_users_of(values: Settings) -> str:
    return "admin" if values["AUTH_MODE"] in ADMIN_PASSWORD_MODES else ""


def public_url_of(values: Settings) -> str:
    """https://DOMAIN[:HTTPS_PORT] when HTTPS is on."""
    if not values["DOMAIN"]:
        return ""
    port = values["HTTPS_PORT"] or STANDARD_HTTPS_PORT
    return f"https://{values['DOMAIN']}" + ("" if port == STANDARD_HTTPS_PORT else f":{port}")


def callback_of(values: Settings) -> str:
    public_url = values["PUBLIC_URL"]
    return f"{public_url.rstrip('/')}/hub/oauth_callback" if public_url else ""


def singleuser_image_of(values: Settings) -> str:
    mode = SPAWNER_MODES.get(values["SPAWNER_MODE"])
    kind = mode.image_kind if mode else "singleuser"
    return image_name(kind, values["IMAGE_REGISTRY"] or DEFAULT_REGISTRY)


def database_url_of(values: Settings) -> str:
    data_dir = values["DATA_DIR"]
    return f"sqlite:///{data_dir.rstrip('/')}/jupyterhub.sqlite" if data_dir else ""


HEX_32_BYTES = Text(r"[0-9a-fA-F]{64}", describe="64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")

HUB_AND_LOGIN_SETTINGS = (
    Setting(
        "SPAWNER_MODE",
        "How user servers run: one container each (docker), as host users (system), or on Docker Swarm (swarm).",
        Choice(tuple(SPAWNER_MODES)),
        default="docker",
    ),
    Setting(
        "PUBLIC_URL",
        "The URL people open, such as https://hub.example.org; required in github mode for the OAuth callback.",
        Url(("http", "https")),
        default=public_url_of,
        default_doc="https://DOMAIN when DOMAIN is set",
    ),
    Setting(
        "LOG_LEVEL",
        "How much the hub logs.",
        Choice(("DEBUG", "INFO", "WARNING", "ERROR"), case_insensitive=True),
        default="INFO",
    ),
    Setting(
        "AUTH_MODE",
        "How people log in: the admins' password and one shared by all users (password), each user their own "
        "password, with sign-up and approval by an admin (native), GitHub OAuth (github), the lab's OpenID Connect "
        "provider (oidc), or its LDAP directory (ldap).",
        Choice(tuple(LOGIN_MODES)),
        default=auth_mode_of,
        default_doc="github when GITHUB_CLIENT_ID is set, else password",
        group="Login",
    ),
    Setting(
        "ADMIN_USERS",
        "Users who are hub admins (in github, oidc and ldap mode, names there; no default in those modes).",
        NameList("comma-separated user names"),
        default=admin_users_of,
        default_doc="admin in password and native mode, else unset",
        group="Login",
    ),
    Setting(
        "ADMIN_PASSWORD",
        "Password of the admin users in password mode, 32+ characters as JupyterHub requires; in native mode, "
        "the first password of each admin account (change it at /hub/change-password). Generated at first start, "
        "stored in DATA_DIR and logged once.",
        Text(min_length=32, describe="any text"),
        default_doc="generated",
        secret=True,
        group="Login",
    ),
    Setting(
        "ALLOWED_USERS",
        "Users, besides the admins, who may log in; no one else can. Native mode: these names are approved "
        "when they sign up.",
        NameList("comma-separated user names"),
        group="Login",
    ),
    Setting(
        "LOGIN_ATTEMPTS",
        "Failed logins of one user name from one client address, within LOCKOUT_SECONDS, after which that name is "
        "locked from that address (HTTP 429) for LOCKOUT_SECONDS; password, native and ldap mode.",
        Integer(1, 1000),
        default="5",
        group="Login",
    ),
    Setting(
        "ADDRESS_LOGIN_ATTEMPTS",
        "Failed logins from one client address, within LOCKOUT_SECONDS, after which that address is locked (native "
        "sign-ups from one address are limited alike, counted apart); allow for a class behind one NAT address.",
        Integer(1, 10000),
        default="30",
        group="Login",
    ),
    Setting(
        "LOCKOUT_SECONDS",
        "How long a user name or an address stays locked after too many failed logins.",
        Integer(1, 86400),
        default="300",
        group="Login",
    ),
    Setting(
        "OAUTH_CALLBACK_URL",
        "The callback URL registered with the GitHub OAuth app or the OpenID Connect client.",
        Url(("http", "https")),
        default=callback_of,
        default_doc="PUBLIC_URL + /hub/oauth_callback",
        group="Login",
        applies_in=in_login_modes("github", "oidc"),
    ),
    Setting(
        "ALLOW_ALL",
        "Let anyone with an account log in (github: any GitHub user; oidc: anyone the provider signs in; ldap: "
        "anyone in the directory); an explicit opt-in, since it opens the hub to everyone with an account.",
        Flag(),
        default="false",
        group="Login",
        applies_in=in_login_modes("github", "oidc", "ldap"),
    ),
)
# The login modes' own settings come between these and the rest (appliance.login).
SERVER_SETTINGS = (
    Setting(
        "SINGLEUSER_IMAGE",
        "Image of the user servers.",
        Text(IMAGE_REFERENCE, describe=IMAGE_REFERENCE_DESCRIBED),
        default=singleuser_image_of,
        default_doc=f"IMAGE_REGISTRY/jupyterhub-appliance-singleuser:{__version__}, the hub's own version "
        "(system mode: …-systemuser)",
        group="User servers",
    ),
    Setting(
        "ALLOWED_IMAGES",
        "Images users may pick from when they start a server, a shorthand for one profile per image; unset means they "
        "get SINGLEUSER_IMAGE and cannot pick.",
        NameList("comma-separated Docker image references", IMAGE_REFERENCE),
        group="User servers",
    ),
    Setting(
        "PULL_AHEAD",
        "At hub start, pull every user image (SINGLEUSER_IMAGE, ALLOWED_IMAGES, profiles) that this host lacks, so "
        "that first spawns do not wait for it; spawns that arrive meanwhile wait for that pull. In swarm mode also "
        "on every node SWARM_PLACEMENT admits, and again on nodes that join later (docs/swarm.md).",
        Flag(),
        default="true",
        group="User servers",
    ),
    Setting(
        "PROFILES_FILE",
        "The profiles file: images, sizes, GPUs and shared volumes that users choose from at spawn, each for the "
        "groups it names (docs/profiles.md). Compose mounts ./profiles (PROFILES_DIR) at /etc/appliance/profiles.",
        ProfilesFileKind(),
        default=DEFAULT_PROFILES_FILE,
        group="User servers",
    ),
    Setting(
        "USER_VOLUME",
        "Name of each user's Docker volume, mounted at /home/jovyan/work; it outlives the user's containers.",
        Template(("username", "servername")),
        default="jupyterhub-user-{username}",
        group="User servers",
    ),
    Setting(
        "MEM_LIMIT",
        "Memory limit of each user server; past it, the kernel using the most memory is killed.",
        ByteSize(),
        default="2G",
        group="User servers",
    ),
    Setting(
        "CPU_LIMIT",
        "CPU limit of each user server, in cores.",
        PositiveNumber(),
        default="1",
        group="User servers",
    ),
    Setting(
        "PIDS_LIMIT",
        "Most processes and threads a user server may run at once; stops fork bombs.",
        Integer(32, 1_000_000),
        default="512",
        group="User servers",
    ),
    Setting(
        "READ_ONLY_ROOTFS",
        "Run user servers with a read-only root filesystem; only their volume, /tmp and their home stay writable.",
        Flag(),
        default="false",
        group="User servers",
    ),
    Setting(
        "SERVER_START_TIMEOUT",
        "Seconds a user server's process gets to answer after its container starts; then the spawn fails with why.",
        Integer(5, 3600),
        default="60",
        group="User servers",
    ),
    Setting(
        "IDLE_TIMEOUT",
        "Seconds without activity after which a user server is stopped (its files stay); 0 turns culling off.",
        Integer(0, 365 * 24 * 3600),
        default="3600",
        group="User servers",
    ),
    Setting(
        "NAMED_SERVERS",
        "How many named servers each user may run besides their default one, each with its own volume; 0 turns "
        "them off.",
        Integer(0, 100),
        default="0",
        group="User servers",
    ),
    Setting(
        "DOMAIN",
        "The hub's domain name; setting it turns on HTTPS, with a certificate from ACME unless TLS_CERT is given.",
        Text(DOMAIN_NAME, describe="a lowercase domain name such as hub.example.org"),
        group="HTTPS",
    ),
    Setting(
        "ACME_EMAIL",
        "Contact address given to the ACME server, which mails about expiring certificates.",
        Text(r"[^@\s]+@[^@\s]+\.[^@\s]+", describe="an email address"),
        group="HTTPS",
    ),
    Setting(
        "ACME_DIRECTORY",
        "Where certificates come from: Let's Encrypt production, its staging service, or any ACME directory URL.",
        Text(r"production|staging|https://\S+", describe="production, staging, or an https:// ACME directory URL"),
        default="production",
        group="HTTPS",
    ),
    Setting(
        "ACME_CA_ROOT",
        "Root certificate of a private ACME server (such as step-ca), to trust its API.",
        ExistingFile("a PEM certificate"),
        group="HTTPS",
    ),
    Setting(
        "TLS_CERT",
        "Certificate chain to serve instead of ACME, with TLS_KEY; mount it under /etc/appliance/tls.",
        ExistingFile("a PEM certificate chain"),
        group="HTTPS",
    ),
    Setting(
        "TLS_KEY",
        "Private key of TLS_CERT.",
        ExistingFile("a PEM private key"),
        group="HTTPS",
    ),
    Setting(
        "HTTPS_PORT",
        "Port on the host where the HTTPS overlay (compose/https.yml) publishes HTTPS.",
        Integer(1, 65535),
        default=str(STANDARD_HTTPS_PORT),
        group="HTTPS",
    ),
    Setting(
        "HTTP_PORT",
        "Port on the host where the HTTPS overlay publishes plain HTTP, which only redirects to HTTPS.",
        Integer(1, 65535),
        default="80",
        group="HTTPS",
    ),
    Setting(
        "DOCKER_HOST",
        "The Docker engine the hub and its services use, as Docker's own DOCKER_HOST; unset means the mounted socket.",
        Text(r"(unix|tcp|ssh)://\S+", describe="a Docker endpoint such as unix:///var/run/docker.sock"),
        group="Docker",
    ),
    Setting(
        "DOCKER_TLS_VERIFY",
        "With a tcp:// DOCKER_HOST: verify the engine's TLS certificate, as Docker's own DOCKER_TLS_VERIFY (any "
        "value turns it on).",
        Text(),
        group="Docker",
    ),
    Setting(
        "DOCKER_CERT_PATH",
        "With DOCKER_TLS_VERIFY: the folder of ca.pem, cert.pem and key.pem, as Docker's own DOCKER_CERT_PATH.",
        AbsolutePath(),
        group="Docker",
    ),
    Setting(
        "DOCKER_NETWORK",
        "Docker network that the hub and user servers share; compose creates it under this name.",
        Text(DOCKER_NAME, describe="a Docker network name"),
        default="jupyterhub-appliance",
        default_doc="the compose project name",
        group="Docker",
    ),
    Setting(
        "USER_NETWORK_ISOLATION",
        "Firewall each user server (docker and system mode): it accepts connections only from the hub, and reaches "
        "only the hub's API, DNS and what USER_EGRESS allows; `off` turns this off, with a warning at every start.",
        Choice(("on", "off")),
        default="on",
        group="Network",
    ),
    Setting(
        "USER_EGRESS",
        "What user servers may reach besides the hub's API and DNS: `internet` (public addresses only; private, "
        "shared and link-local ranges and the Docker host are blocked), `none` (nothing else: exam mode), or `all` "
        "(everything but other user servers, the hub's other ports, link-local addresses and the host).",
        Choice(("internet", "none", "all")),
        default="internet",
        group="Network",
    ),
    Setting(
        "USER_EGRESS_ALLOW",
        "Networks user servers may reach even where USER_EGRESS blocks them, such as a lab's file server or a "
        "package mirror: IPv4 CIDRs, each optionally with :port. No entry opens what is always blocked (other "
        "user servers, the hub's other ports, link-local addresses and the Docker host), however wide it is.",
        EgressRules(),
        group="Network",
    ),
    Setting(
        "APPLIANCE_INSTANCE",
        "Name of this appliance, put on the labels of every container and volume it creates.",
        Text(DOCKER_NAME, describe="letters, digits, '_', '.' and '-'"),
        default="jupyterhub-appliance",
        default_doc="the compose project name",
        group="Docker",
    ),
    Setting(
        "UNKNOWN_CONTAINERS",
        "What to do with containers that carry this appliance's labels but serve no server the hub knows (left "
        "behind by a restored database or a crash), checked at hub start and every 5 minutes: `report` logs them, "
        "`remove` removes them. Their volumes are never removed.",
        Choice(("report", "remove")),
        default="report",
        group="Docker",
    ),
    Setting(
        "IMAGE_REGISTRY",
        "Registry and owner that compose pulls the appliance's images from, and the default SINGLEUSER_IMAGE "
        "comes from: IMAGE_REGISTRY/jupyterhub-appliance-hub:APPLIANCE_VERSION, and so on. Set it to your own "
        "registry when you publish the images yourself.",
        Text(
            r"[a-z0-9]([a-z0-9._:-]*[a-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*",
            describe="a registry and path such as ghcr.io/owner or registry.example.org:5000/jupyter",
        ),
        default=DEFAULT_REGISTRY,
        group="Docker",
    ),
    Setting(
        "APPLIANCE_VERSION",
        "Version of the appliance images that compose runs. Set it to stay on a release (X.Y follows its newest "
        "patch release); unset, compose runs the version of its own compose file. The hub's default "
        "SINGLEUSER_IMAGE follows the hub's own version.",
        Text(
            r"latest|\d+\.\d+(\.\d+([-.][0-9A-Za-z.-]+)?)?",
            describe="a published tag: a version such as 1.2.3, a minor version such as 1.2, or latest",
        ),
        default=__version__,
        group="Docker",
    ),
    Setting(
        "HUB_BIND",
        "Address on the host where compose publishes the hub (and the HTTPS overlay its ports): 0.0.0.0 for every "
        "interface, 127.0.0.1 when your own reverse proxy on this host is in front.",
        IpAddress(),
        default="0.0.0.0",
        group="Docker",
    ),
    Setting(
        "HUB_PORT",
        "Port on the host where compose publishes the hub.",
        Integer(1, 65535),
        default="8000",
        group="Docker",
    ),
    Setting(
        "DATA_DIR",
        "Where the hub keeps its database and secrets, inside the hub container.",
        AbsolutePath(),
        default="/data",
        group="Storage",
    ),
    Setting(
        "DATABASE_URL",
        "The hub's database: a sqlite file, or PostgreSQL (through psycopg 3; compose/postgres.yml runs one).",
        DatabaseUrl(),
        default=database_url_of,
        default_doc="sqlite:///DATA_DIR/jupyterhub.sqlite",
        group="Storage",
    ),
    Setting(
        "DATABASE_PASSWORD_FILE",
        "A file holding the PostgreSQL password, used instead of one in DATABASE_URL (compose/postgres.yml sets it).",
        ExistingFile("the database password"),
        group="Storage",
    ),
    Setting(
        "DATABASE_WAIT_SECONDS",
        "How long the hub, when it starts, waits for PostgreSQL to answer before it gives up with an error.",
        Integer(1, 3600),
        default="60",
        group="Storage",
    ),
    Setting(
        "JPY_COOKIE_SECRET",
        "Key that signs login cookies; generated and stored in DATA_DIR when unset.",
        HEX_32_BYTES,
        default_doc="generated",
        secret=True,
        group="Secrets",
    ),
    Setting(
        "CONFIGPROXY_AUTH_TOKEN",
        "Token between the hub and its proxy; generated and stored in DATA_DIR when unset.",
        Text(min_length=32, describe="any text"),
        default_doc="generated",
        secret=True,
        group="Secrets",
    ),
    Setting(
        "JUPYTERHUB_CRYPT_KEY",
        "Key that encrypts stored auth state; generated and stored in DATA_DIR when unset.",
        HEX_32_BYTES,
        default_doc="generated",
        secret=True,
        group="Secrets",
    ),
    Setting(
        "METRICS_TOKEN",
        "Token that lets Prometheus scrape /hub/metrics, sent as `Authorization: token …`; unset means no scraping.",
        Text(min_length=32, describe="any text"),
        secret=True,
        group="Secrets",
    ),
)

SETTINGS: tuple[Setting, ...] = (
    *HUB_AND_LOGIN_SETTINGS,
    *(setting for mode in LOGIN_MODES.values() for setting in mode.own_settings),
    *SERVER_SETTINGS,
    *(setting for mode in SPAWNER_MODES.values() for setting in mode.own_settings),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


class SettingsError(Exception):
    """Every problem with the environment at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"The appliance's configuration has {len(problems)} problem(s); nothing was started or written:"]
        lines += [f"  - {problem}" for problem in problems]
        lines.append("Fix them in .env (see .env.example) or the environment, then start again.")
        super().__init__("\n".join(lines))


def shown(setting: Setting, raw: str) -> str:
    """A raw value as it may appear in messages: secrets are never shown, nor credentials inside a value."""
    if setting.secret:
        return f"<redacted, {len(raw)} characters>"
    return repr(without_credentials(raw))


# The password of a URL (scheme://user:PASSWORD@host), and the value of a key=value option whose key names
# a credential (password=, secret=, token=, … as in a CIFS or NFS volume's `o=` options).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]*(@)", re.IGNORECASE)
CREDENTIAL_OPTION = re.compile(r"\b([\w.-]*(?:pass|secret|token|credential|key)[\w.-]*=)[^,\s]*", re.IGNORECASE)
REDACTED = "<redacted>"


def without_credentials(text: str) -> str:
    return CREDENTIAL_OPTION.sub(rf"\g<1>{REDACTED}", URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<2>", text))


def load(environ: RawEnv) -> Settings:
    """Parse and check every setting; raise SettingsError listing every problem.

    Values set in the environment and literal defaults are parsed first; derived defaults are then
    computed from those parsed values, in declaration order, as traitlets' @default does.
    """
    values: dict[str, object] = dict.fromkeys(BY_NAME)
    problems: list[Problem] = []
    for setting in SETTINGS:
        raw = environ.get(setting.name, "") or setting.literal_default
        try:
            values[setting.name] = setting.kind(raw) if raw else None
        except Invalid as error:
            problems.append(Problem(setting.name, shown(setting, raw), str(error), setting.help))
    for setting in SETTINGS:
        if setting.derived and values[setting.name] is None and not environ.get(setting.name):
            values[setting.name] = derived_value(setting, values)
    failed = {problem.name for problem in problems}
    problems += [problem for problem in cross_checks(values, chosen_in(environ)) if problem.name not in failed]
    if problems:
        raise SettingsError(problems)
    return MappingProxyType(values)


def derived_value(setting: Setting, values: Settings) -> object:
    """The derived default, parsed; None when it derives nothing, or nothing valid from another bad setting
    (whose own problem is reported)."""
    raw = setting.default(values)
    try:
        return setting.kind(raw) if raw else None
    except Invalid:
        return None


def chosen_in(environ: RawEnv) -> frozenset[str]:
    """The settings the environment sets to something other than their default."""
    return frozenset(
        setting.name for setting in SETTINGS if environ.get(setting.name, "") not in ("", setting.literal_default)
    )


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
    return problems


def only_in_mode_problems(values: Settings, chosen: frozenset[str]) -> list[Problem]:
    """A setting of some modes only (its `applies_in`), chosen in another mode, is an error rather than ignored."""
    problems = []
    for name in sorted(chosen, key=list(BY_NAME).index):
        applies_in = BY_NAME[name].applies_in
        chosen_mode = values[applies_in.selector] if applies_in else None
        if applies_in and chosen_mode is not None and chosen_mode not in applies_in.modes:
            fix = f"unset it, or set {applies_in.selector}={applies_in.modes[0]}"
            problems.append(Problem(name, "(set)", f"only applies when {applies_in}", fix))
    return problems


def profile_problems(values: Mapping[str, object]) -> list[Problem]:
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


def database_problems(values: Mapping[str, object]) -> list[Problem]:
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


def network_problems(values: Mapping[str, object]) -> list[Problem]:
    """The egress policy is part of isolation (where isolation cannot be enforced, the spawner mode says so)."""
    if values["USER_NETWORK_ISOLATION"] == "on":
        return []
    problems = []
    if values["USER_EGRESS"] != BY_NAME["USER_EGRESS"].literal_default:
        problems.append(Problem("USER_EGRESS", repr(values["USER_EGRESS"]), "needs USER_NETWORK_ISOLATION=on"))
    if values["USER_EGRESS_ALLOW"]:
        problems.append(Problem("USER_EGRESS_ALLOW", "(set)", "needs USER_NETWORK_ISOLATION=on"))
    return problems


def tls_problems(values: Mapping[str, object]) -> list[Problem]:
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
    mismatch = certificate_key_mismatch(cert, key)
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
