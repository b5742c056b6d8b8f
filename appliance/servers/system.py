"""System mode: each server runs as the host account of the same name, in its home on the host
(dockerspawner's SystemUserSpawner; compose/systemuser.yml mounts the host's passwd and group files)."""

from traitlets.config import Config

from appliance.declarations import Outcome, Problem, Setting, Settings, SpawnerMode, failed, passed
from appliance.host_accounts import records
from appliance.kinds import AbsolutePath, Flag, Integer, Text
from appliance.layout import HOST_GROUP_IN_HUB, HOST_PASSWD_IN_HUB
from appliance.servers.docker import deleted_user_data_problems, hardened_host_config

SETTINGS = (
    Setting(
        "HOME_FORMAT",
        "System mode: the host path of each user's home, mounted as their $HOME.",
        Text(r"/\S*\{username\}\S*", describe="an absolute host path containing {username}"),
        default="/home/{username}",
    ),
    Setting(
        "CREATE_HOMES",
        "System mode: create a missing home, owned by the user with mode 0700, instead of refusing the spawn.",
        Flag(),
        default="false",
    ),
    Setting(
        "SYSTEM_MIN_UID",
        "System mode: the lowest host uid that gets a server; root and system accounts below it are refused.",
        Integer(1, 2**31 - 1),
        default="1000",
    ),
    Setting(
        "SYSTEM_USERS_GROUP",
        "System mode: only members of this host group get servers; required with github and oidc login, and with "
        "ALLOW_ALL=true in ldap mode.",
        Text(r"[a-z_][a-z0-9_.-]*\$?", describe="a host group name"),
    ),
    Setting(
        "HOST_PASSWD_FILE",
        "System mode: the host's passwd file, mounted into the hub by compose/systemuser.yml and into servers.",
        AbsolutePath(),
        default="/etc/passwd",
    ),
    Setting(
        "HOST_GROUP_FILE",
        "System mode: the host's group file, for primary and supplementary groups.",
        AbsolutePath(),
        default="/etc/group",
    ),
)


# OpenID Connect claims that the specification does not make unique or stable: a provider may give the same
# value to two people, or let a user choose it.
OIDC_NOT_UNIQUE_CLAIMS = ("preferred_username", "name", "nickname", "given_name", "family_name", "email")


def problems(values: Settings) -> list[Problem]:
    """System mode: a login name is a host account (its uid, its home). No login may claim one it does not own."""
    mode, group = values["AUTH_MODE"], values["SYSTEM_USERS_GROUP"]
    found = []
    if mode == "password" and values["USER_PASSWORD"]:
        found.append(
            Problem(
                "USER_PASSWORD",
                "<redacted>",
                "is refused in system mode: the one shared password would open every listed host account and its home",
                "use AUTH_MODE=native (each user's own password, approved by an admin) or ldap",
            )
        )
    if mode in ("github", "oidc") and not group:
        found.append(
            Problem(
                "SYSTEM_USERS_GROUP",
                "(unset)",
                f"is required in system mode with AUTH_MODE={mode}: whoever logs in with a name that matches a host "
                "account would get that account's server and home",
                "set SYSTEM_USERS_GROUP to the host group whose members may have servers",
            )
        )
    if mode == "ldap" and values["ALLOW_ALL"] and not group:
        found.append(
            Problem(
                "SYSTEM_USERS_GROUP",
                "(unset)",
                "is required in system mode with ALLOW_ALL=true: every directory account would get a host account",
                "set SYSTEM_USERS_GROUP to the host group whose members may have servers, or use ALLOWED_USERS",
            )
        )
    if mode == "oidc" and values["OIDC_USERNAME_CLAIM"] in OIDC_NOT_UNIQUE_CLAIMS:
        found.append(
            Problem(
                "OIDC_USERNAME_CLAIM",
                repr(values["OIDC_USERNAME_CLAIM"]),
                "is not unique by the OpenID Connect specification, so in system mode two people could get one "
                "host account",
                "name a claim your provider guarantees unique and equal to the host account name (a directory uid "
                "mapped into the token, say)",
            )
        )
    return found + deleted_user_data_problems(values, "system")


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.spawner_class = "appliance.spawners.ApplianceSystemUserSpawner"
    configure_accounts(settings, c)
    c.SystemUserSpawner.host_homedir_format_string = settings["HOME_FORMAT"]
    c.ApplianceSystemUserSpawner.create_homes = settings["CREATE_HOMES"]
    # The home is the user's own, mounted from the host: it stays writable under READ_ONLY_ROOTFS.
    c.DockerSpawner.extra_host_config = hardened_host_config(settings)


def configure_accounts(settings: Settings, c: Config) -> None:
    """Which host accounts get servers, and where their passwd and group files are."""
    c.ApplianceSystemUserSpawner.host_passwd_file = settings["HOST_PASSWD_FILE"]
    c.ApplianceSystemUserSpawner.host_group_file = settings["HOST_GROUP_FILE"]
    c.ApplianceSystemUserSpawner.min_uid = settings["SYSTEM_MIN_UID"]
    c.ApplianceSystemUserSpawner.users_group = settings["SYSTEM_USERS_GROUP"] or ""


def diagnose(settings: Settings) -> Outcome:
    """The host's account files reach the hub, and some account may have a server."""
    fix = "start with compose/systemuser.yml, which mounts HOST_PASSWD_FILE and HOST_GROUP_FILE into the hub"
    try:
        accounts = [fields for fields in records(HOST_PASSWD_IN_HUB) if len(fields) >= 4]
        groups = {fields[0] for fields in records(HOST_GROUP_IN_HUB)}
    except OSError as error:
        return failed(f"the host's account files cannot be read: {error}", fix)
    eligible = [fields for fields in accounts if int(fields[2]) >= settings["SYSTEM_MIN_UID"]]
    if not eligible:
        return failed(
            f"no host account has a uid of SYSTEM_MIN_UID={settings['SYSTEM_MIN_UID']} or above",
            "check HOST_PASSWD_FILE, or lower SYSTEM_MIN_UID to your users' first uid",
        )
    group = settings["SYSTEM_USERS_GROUP"]
    if group and group not in groups:
        return failed(f"SYSTEM_USERS_GROUP={group} is no group of the host", "create it, or fix the name")
    among = f", members of {group} only" if group else ""
    return passed(f"{len(eligible)} host account(s) from uid {settings['SYSTEM_MIN_UID']} may have servers{among}")


MODE = SpawnerMode("system", "System users", configure, diagnose, SETTINGS, problems, image_kind="systemuser")
