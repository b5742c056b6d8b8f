"""Every environment variable of the appliance, declared once, and `load()` that checks them all.

The declarations drive parsing, validation, `appliance check`, the README table and `.env.example`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from appliance import __version__
from appliance.kinds import (
    DOCKER_NAME,
    AbsolutePath,
    ByteSize,
    Choice,
    Integer,
    Invalid,
    Kind,
    NameList,
    PositiveNumber,
    Template,
    Text,
    Url,
)

Settings = Mapping[str, object]
RawEnv = Mapping[str, str]


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    kind: Kind
    default: str | Callable[[RawEnv], str] = ""
    default_doc: str = ""
    secret: bool = False
    group: str = "Hub"

    def default_for(self, env: RawEnv) -> str:
        return self.default(env) if callable(self.default) else self.default

    @property
    def literal_default(self) -> str:
        """The default as a value one could write into .env; empty when it is derived or generated."""
        return self.default if isinstance(self.default, str) else ""

    @property
    def documented_default(self) -> str:
        return self.default_doc or self.literal_default


HEX_32_BYTES = Text(r"[0-9a-fA-F]{64}", describe="64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SPAWNER_MODE",
        "How user servers run: one container each (docker), as host users (system), or on Docker Swarm (swarm).",
        Choice(("docker", "system", "swarm"), unavailable=("system", "swarm")),
        default="docker",
    ),
    Setting(
        "PUBLIC_URL",
        "The URL people open, such as https://hub.example.org; required in github mode for the OAuth callback.",
        Url(("http", "https")),
    ),
    Setting(
        "LOG_LEVEL",
        "How much the hub logs.",
        Choice(("DEBUG", "INFO", "WARNING", "ERROR"), case_insensitive=True),
        default="INFO",
    ),
    Setting(
        "AUTH_MODE",
        "How people log in: shared passwords (password) or GitHub OAuth (github).",
        Choice(("password", "github")),
        default=lambda env: "github" if env.get("GITHUB_CLIENT_ID") else "password",
        default_doc="github when GITHUB_CLIENT_ID is set, else password",
        group="Login",
    ),
    Setting(
        "ADMIN_USERS",
        "Users who are hub admins.",
        NameList("comma-separated user names"),
        default="admin",
        group="Login",
    ),
    Setting(
        "ADMIN_PASSWORD",
        "Password of the admin users in password mode, 32+ characters as JupyterHub requires; "
        "generated at first start, stored in DATA_DIR and logged once.",
        Text(min_length=32, describe="any text"),
        default_doc="generated",
        secret=True,
        group="Login",
    ),
    Setting(
        "USER_PASSWORD",
        "Shared password of the non-admin users named in ALLOWED_USERS, in password mode; "
        "unset means only admins log in.",
        Text(min_length=8, describe="any text"),
        secret=True,
        group="Login",
    ),
    Setting(
        "ALLOWED_USERS",
        "Users, besides the admins, who may log in; no one else can.",
        NameList("comma-separated user names"),
        group="Login",
    ),
    Setting(
        "GITHUB_CLIENT_ID",
        "Client ID of the GitHub OAuth app, in github mode.",
        Text(describe="the OAuth app's client ID"),
        group="Login",
    ),
    Setting(
        "GITHUB_CLIENT_SECRET",
        "Client secret of the GitHub OAuth app, in github mode.",
        Text(describe="the OAuth app's client secret"),
        secret=True,
        group="Login",
    ),
    Setting(
        "SINGLEUSER_IMAGE",
        "Image of the user servers.",
        Text(r"[a-z0-9][a-z0-9._/:@-]*", describe="an image reference such as repo/name:tag"),
        default=f"jupyterhub-appliance/singleuser:{__version__}",
        group="User servers",
    ),
    Setting(
        "ALLOWED_IMAGES",
        "Images users may pick from when they start a server; unset means they get SINGLEUSER_IMAGE and cannot pick.",
        NameList("comma-separated image references"),
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
        "Memory limit of each user server; unset means no limit.",
        ByteSize(),
        group="User servers",
    ),
    Setting(
        "CPU_LIMIT",
        "CPU limit of each user server, in cores; unset means no limit.",
        PositiveNumber(),
        group="User servers",
    ),
    Setting(
        "DOCKER_NETWORK",
        "Docker network that the hub and user servers share; compose creates it under this name.",
        Text(DOCKER_NAME, describe="a Docker network name"),
        default="jupyterhub-appliance",
        group="Docker",
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
        "The hub's database, as an SQLAlchemy URL.",
        Url(("sqlite", "postgresql", "mysql"), describe="an SQLAlchemy URL: sqlite:///…, postgresql://… or mysql://…"),
        default=lambda env: f"sqlite:///{(env.get('DATA_DIR') or '/data').rstrip('/')}/jupyterhub.sqlite",
        default_doc="sqlite:///DATA_DIR/jupyterhub.sqlite",
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
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Problem:
    name: str
    shown_value: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.name}={self.shown_value}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class SettingsError(Exception):
    """Every problem with the environment at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"The appliance's configuration has {len(problems)} problem(s); nothing was started or written:"]
        lines += [f"  - {problem}" for problem in problems]
        lines.append("Fix them in .env (see .env.example) or the environment, then start again.")
        super().__init__("\n".join(lines))


def shown(setting: Setting, raw: str) -> str:
    """A raw value as it may appear in messages: secrets are never shown."""
    if setting.secret:
        return f"<redacted, {len(raw)} characters>"
    return repr(raw)


def load(environ: RawEnv) -> Settings:
    """Parse and check every setting; raise SettingsError listing every problem."""
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for setting in SETTINGS:
        raw = environ.get(setting.name, "") or setting.default_for(environ)
        if not raw:
            values[setting.name] = None
            continue
        try:
            values[setting.name] = setting.kind(raw)
        except Invalid as error:
            values[setting.name] = None
            problems.append(Problem(setting.name, shown(setting, raw), str(error), setting.help))
    failed = {problem.name for problem in problems}
    problems += [problem for problem in cross_checks(values) if problem.name not in failed]
    if problems:
        raise SettingsError(problems)
    return MappingProxyType(values)


def cross_checks(values: Mapping[str, object]) -> list[Problem]:
    """Problems that involve more than one setting."""
    problems = []
    if values["AUTH_MODE"] == "github":
        for name in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "PUBLIC_URL"):
            if not values[name]:
                problems.append(
                    Problem(name, "(unset)", "is required when AUTH_MODE=github", "set it, or use AUTH_MODE=password")
                )
        if not values["ALLOWED_USERS"]:
            problems.append(
                Problem(
                    "ALLOWED_USERS",
                    "(unset)",
                    "github mode admits no one but the admins unless ALLOWED_USERS names who may log in",
                    "set ALLOWED_USERS to the GitHub user names to admit",
                )
            )
    if values["AUTH_MODE"] == "password":
        if values["USER_PASSWORD"] and values["USER_PASSWORD"] == values["ADMIN_PASSWORD"]:
            problems.append(
                Problem(
                    "USER_PASSWORD",
                    "<redacted>",
                    "must differ from ADMIN_PASSWORD, or every user could log in as an admin",
                    "pick a different USER_PASSWORD",
                )
            )
        if values["USER_PASSWORD"] and not values["ALLOWED_USERS"]:
            problems.append(
                Problem(
                    "ALLOWED_USERS",
                    "(unset)",
                    "USER_PASSWORD is set but no one may use it",
                    "name the users in ALLOWED_USERS, or unset USER_PASSWORD",
                )
            )
    return problems
