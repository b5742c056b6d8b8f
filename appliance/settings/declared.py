"""Every environment variable of the appliance, declared once (the login and spawner modes declare their own,
gathered here). The declarations drive parsing, validation, `appliance check`, docs/settings.md, the README's main
settings and `.env.example`."""

from appliance import __version__
from appliance.declarations import (
    AppliesIn,
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
    ExistingFile,
    Flag,
    Integer,
    NameList,
    PositiveNumber,
    Template,
    Text,
    Url,
)
from appliance.layout import LEGACY_USER_VOLUME
from appliance.login import LOGIN_MODES
from appliance.network_kinds import EgressRules, IpAddress
from appliance.profiles import DEFAULT_PROFILES_FILE, ProfilesFileKind
from appliance.servers import SPAWNER_MODES
from appliance.sharing import ASSISTANT_PAIR, AUTH_CACHE_SECONDS, SHARING_MODES
from appliance.storage.backup_kinds import BackupRepository, BackupRetention, BackupSchedule

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


def disk_quota_of(values: Settings) -> str:
    """Docker mode's quota, where USER_STORAGE_DIR turns quotas on; swarm mode has quotas only when it is set."""
    return "10G" if values["USER_STORAGE_DIR"] else ""


def user_volume_of(values: Settings) -> str:
    """The user volume's name in the install's naming (CONTAINER_NAMES)."""
    return LEGACY_USER_VOLUME if values["CONTAINER_NAMES"] == "legacy" else "{instance}-user-{username}"


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
        "provider (oidc), its LDAP directory (ldap), or a launch from a course in the LMS (lti13).",
        Choice(tuple(LOGIN_MODES)),
        default=auth_mode_of,
        default_doc="github when GITHUB_CLIENT_ID is set, else password",
        group="Login",
        always_derived=True,
    ),
    Setting(
        "ADMIN_USERS",
        "Users who are hub admins (in github, oidc and ldap mode, names there; no default in those modes; in lti13 "
        "mode, accounts that log in with ADMIN_PASSWORD at /hub/admin-login only).",
        NameList("comma-separated user names"),
        default=admin_users_of,
        default_doc="admin in password, native and lti13 mode, else unset",
        group="Login",
    ),
    Setting(
        "ADMIN_PASSWORD",
        "Password of the admin users in password mode (and at lti13 mode's /hub/admin-login), 32+ characters as "
        "JupyterHub requires; in native mode, the first password of each admin account (change it at "
        "/hub/change-password). Generated at first start, stored in DATA_DIR and logged once.",
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
        "anyone in the directory; lti13: anyone the LMS launches); an explicit opt-in, since it opens the hub to "
        "everyone with an account.",
        Flag(),
        default="false",
        group="Login",
        applies_in=in_login_modes("github", "oidc", "ldap", "lti13"),
    ),
    Setting(
        "ALLOWED_GROUPS",
        "Groups whose members may log in: oidc, from OIDC_GROUPS_CLAIM; lti13, a course's role groups such as "
        "cs101-learner.",
        NameList("comma-separated group names"),
        group="Login",
        applies_in=in_login_modes("oidc", "lti13"),
    ),
    Setting(
        "ADMIN_GROUPS",
        "Groups whose members are hub admins: oidc, from OIDC_GROUPS_CLAIM; lti13, a course's role groups such as "
        "cs101-instructor.",
        NameList("comma-separated group names"),
        group="Login",
        applies_in=in_login_modes("oidc", "lti13"),
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
        always_derived=True,
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
        "CONTAINER_NAMES",
        "How user servers' containers (services in swarm mode) and volumes are named: `instance` puts "
        "APPLIANCE_INSTANCE in each name (jupyter-INSTANCE-alice, INSTANCE-user-alice), so that appliances share a "
        "host with the same user names; `legacy` keeps the names of releases before 0.3 (jupyter-alice, "
        "jupyterhub-user-alice). Decided at the first start and kept in DATA_DIR (docs/operations.md).",
        Choice(("instance", "legacy")),
        default_doc="`instance` for a new install, `legacy` for one an older release made",
        group="User servers",
    ),
    Setting(
        "USER_VOLUME_HOLDS",
        "What each user's volume holds: `home`, the whole home (/home/jovyan: settings, packages, environments, "
        "dotfiles and ~/work); `work`, only ~/work, as in releases before 0.3, with the rest of the home in a second "
        "volume named like it plus `.home`. Decided at the first start and kept in DATA_DIR (docs/operations.md).",
        Choice(("home", "work")),
        default_doc="`home` for a new install, `work` for one an older release made",
        group="User servers",
    ),
    Setting(
        "USER_VOLUME",
        "Name of each user's Docker volume, mounted as their home (see USER_VOLUME_HOLDS); it outlives the user's "
        "containers.",
        Template(("username", "servername", "instance")),
        default=user_volume_of,
        default_doc="{instance}-user-{username}; " + LEGACY_USER_VOLUME + " with CONTAINER_NAMES=legacy",
        group="User servers",
    ),
    Setting(
        "DELETED_USER_DATA",
        "What happens to a user's volumes when an admin deletes the user (or a user deletes a named server): "
        "`keep` them; `archive` them into the instance's archive volume, then remove them once the archive is "
        "checked; or `remove` them. Docker mode only (docs/operations.md).",
        Choice(("keep", "archive", "remove")),
        default="keep",
        group="User servers",
    ),
    Setting(
        "SHARING",
        "Who users may share their servers with (JupyterHub's share links and direct shares, from the home page "
        "and the API): group (only people who have a group in common with them), all (any user of the hub) or off "
        "(nobody; shares made earlier are revoked when the hub starts). A revoked share ends within "
        f"{AUTH_CACHE_SECONDS} s (docs/working-together.md).",
        Choice(SHARING_MODES),
        default="group",
        group="Working together",
    ),
    Setting(
        "COLLABORATION",
        "Real-time collaboration (jupyter-collaboration, in the appliance's user image): people in one shared "
        "server see each other's edits and cursors live. off: JupyterLab edits files one person at a time, as "
        "without the extension (docs/working-together.md).",
        Choice(("on", "off")),
        default="on",
        group="Working together",
    ),
    Setting(
        "ASSISTANT_GROUPS",
        "Teaching assistants: comma-separated HELPERS:HELPED group pairs, e.g. ta:students. Members of HELPERS "
        "list HELPED members' servers, open, start and stop them, and nothing else (no admin page, no other "
        "users). Group changes count at once (docs/working-together.md).",
        NameList(describe="comma-separated HELPERS:HELPED group pairs, e.g. ta:students", pattern=ASSISTANT_PAIR),
        group="Working together",
    ),
    Setting(
        "BACKUP_REPOSITORY",
        "Where restic keeps encrypted, deduplicated snapshots of users' volumes and the hub's database: a folder "
        "on the host (mounted where restic runs), an S3-compatible bucket (s3:https://host/bucket) or restic's "
        "rest-server (rest:https://user:password@host/). Unset: no backups of users' files. Docker mode only "
        "(docs/backups.md).",
        BackupRepository(),
        group="Backups",
    ),
    Setting(
        "BACKUP_PASSWORD",
        "The repository's password: every snapshot is encrypted with it, and without it none can be restored. "
        "Generated and stored in DATA_DIR when unset; `appliance backup --show-password` shows it. Keep a copy "
        "away from this host.",
        Text(min_length=16, describe="any text"),
        default_doc="generated",
        secret=True,
        group="Backups",
    ),
    Setting(
        "BACKUP_S3_ACCESS_KEY_ID",
        "The access key of an s3: BACKUP_REPOSITORY.",
        Text(describe="the bucket's access key ID"),
        group="Backups",
    ),
    Setting(
        "BACKUP_S3_SECRET_ACCESS_KEY",
        "The secret key of an s3: BACKUP_REPOSITORY.",
        Text(describe="the bucket's secret access key"),
        secret=True,
        group="Backups",
    ),
    Setting(
        "BACKUP_SCHEDULE",
        "When the hub backs users' volumes up: a time of day in UTC (02:30), an interval (6h, 30m, 1d), or off.",
        BackupSchedule(),
        default="02:00",
        group="Backups",
    ),
    Setting(
        "BACKUP_KEEP",
        "How many snapshots of each volume stay after each backup (restic forget --keep-PERIOD N), e.g. "
        "daily=7,weekly=4,monthly=6; older ones are pruned.",
        BackupRetention(),
        default="daily=7,weekly=4,monthly=6",
        group="Backups",
    ),
    Setting(
        "BACKUP_SHARED_VOLUMES",
        "Whether backups also hold the profiles' shared volumes (course material, a scratch).",
        Flag(),
        default="false",
        group="Backups",
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
        "The Docker endpoint the hub and its services use, as Docker's own DOCKER_HOST. The compose files set it to "
        "the broker's socket (unix:///run/appliance-broker/docker.sock); any other endpoint needs DOCKER_BROKER=off.",
        Text(r"(unix|tcp|ssh)://\S+", describe="a Docker endpoint such as unix:///var/run/docker.sock"),
        group="Docker",
    ),
    Setting(
        "DOCKER_BROKER",
        "The hub reaches Docker only through the appliance's broker, which lets through only the appliance's own "
        "work (docs/security.md), and refuses to start where its Docker endpoint is not that broker. `off` lets it "
        "use another endpoint, such as the engine's own socket, which is root on the host; a warning says so.",
        Choice(("on", "off")),
        default="on",
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
        "USER_STORAGE_DIR",
        "Per-user disk quotas: a folder on the Docker host, on a btrfs file system, where users' homes live, each "
        "its own subvolume limited to USER_DISK_QUOTA (the appliance turns btrfs's quotas on). Unset: homes are "
        "plain Docker volumes with no quota. Docker mode only (docs/storage.md).",
        AbsolutePath("on the Docker host"),
        group="Storage",
        applies_in=AppliesIn("SPAWNER_MODE", ("docker",)),
    ),
    Setting(
        "USER_DISK_QUOTA",
        "How much each home (each named server's) may hold: with USER_STORAGE_DIR in docker mode; in swarm mode, "
        "setting it limits each home in SWARM_HOMES, which must then be on btrfs as the hub sees it "
        "(docs/storage.md). A change counts from the next start of each server after the hub restarts.",
        ByteSize(),
        default=disk_quota_of,
        default_doc="10G with USER_STORAGE_DIR; unset in swarm mode",
        group="Storage",
        applies_in=AppliesIn("SPAWNER_MODE", ("docker", "swarm")),
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
        always_derived=True,
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
