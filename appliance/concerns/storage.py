"""The hub's own data: DATA_DIR writable, with room, its secrets and database the hub's own and private; the naming
of users' containers and volumes, and what the volumes hold, kept; the secrets resolved (and the admins told how to
log in); the database reachable, backed up and upgraded."""

from dataclasses import dataclass
from pathlib import Path

from appliance import data_dir
from appliance.database import (
    DatabaseError,
    connect_url,
    is_postgres,
    jupyterhub_revisions,
    jupyterhub_version,
    schema_revision_at,
    sqlite_file,
    upgrade_sqlite_if_needed,
)
from appliance.declarations import Outcome, Report, Settings, failed, passed, present, value_of
from appliance.layout import CONTAINER_NAMES_FILE, HOME_VOLUME_SUFFIX, USER_VOLUME_HOLDS_FILE
from appliance.secret_store import STORED_BY_SETTING, resolve, secret_path, write_private
from appliance.settings import ADMIN_PASSWORD_MODES


def prepare_data_dir(settings: Settings, _say: Report) -> None:
    data_dir.check_data_dir(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))


def check_data_dir(settings: Settings) -> Outcome:
    folder, database = settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"])
    try:
        data_dir.check_data_dir(folder, database)
    except data_dir.DataDirError as error:
        return failed(error.problem, error.fix)
    loose = [f"{path} is {mode:o}" for path, mode, _ in data_dir.loose_permissions(folder, database)]
    if loose:
        return failed("; ".join(loose), "restart the hub, which makes them private, or chmod them 700 (folders), 600")
    return passed(f"{folder} is writable, has room, and its secrets are the hub's and private")


@dataclass(frozen=True)
class KeptChoice:
    """A setting whose default the install's first start decides and DATA_DIR keeps: `older` when a release before
    0.3 made this DATA_DIR (its users' volumes are as that release made them), `newer` for a new install."""

    setting: str
    file: str
    older: str
    newer: str
    older_told: str  # said once, at the first start of this release on an older install
    change_told: str  # said when the admin changes it: what users will find


KEPT_CHOICES = (
    KeptChoice(
        "CONTAINER_NAMES",
        CONTAINER_NAMES_FILE,
        older="legacy",
        newer="instance",
        older_told="its users' containers and volumes keep their names (jupyter-USER, jupyterhub-user-USER), "
        "CONTAINER_NAMES=legacy. docs/operations.md says how to run two appliances on one host.",
        change_told="users' servers get new, empty volumes under the new names. Their old volumes stay as they are "
        "(docs/operations.md says how to move their files).",
    ),
    KeptChoice(
        "USER_VOLUME_HOLDS",
        USER_VOLUME_HOLDS_FILE,
        older="work",
        newer="home",
        older_told="each user's volume holds their ~/work and stays mounted there, untouched; the rest of each home "
        f"now persists in a second volume, the same name plus {HOME_VOLUME_SUFFIX} (USER_VOLUME_HOLDS=work).",
        change_told="each user's volume is mounted in a new place, so users find their files elsewhere; no file is "
        "moved or removed (docs/operations.md says how to move them).",
    ),
)


def prepare_install_layout(settings: Settings, say: Report) -> dict[str, str]:
    """CONTAINER_NAMES and USER_VOLUME_HOLDS as set, else as the install's first start decided (kept in DATA_DIR)."""
    older_install = made_before_release_0_3(settings)
    return {choice.setting: keep_choice(choice, settings, older_install, say) for choice in KEPT_CHOICES}


def keep_choice(choice: KeptChoice, settings: Settings, older_install: bool, say: Report) -> str:
    stored = stored_choice(settings["DATA_DIR"], choice)
    value = str(value_of(settings, choice.setting) or stored or (choice.older if older_install else choice.newer))
    if stored is None and value == choice.older:
        say(f"This install was made by a release before 0.3: {choice.older_told}")
    elif stored is not None and value != stored:
        say(f"{choice.setting} changes from {stored} to {value}: {choice.change_told}")
    if value != stored:
        write_private(Path(settings["DATA_DIR"]) / choice.file, value)
    return value


def stored_choices(folder: str) -> dict[str, str]:
    """The kept choices this install's first start (or the admin) made, those DATA_DIR has."""
    found = {choice.setting: stored_choice(folder, choice) for choice in KEPT_CHOICES}
    return {setting: value for setting, value in found.items() if value is not None}


def stored_choice(folder: str, choice: KeptChoice) -> str | None:
    stored_file = Path(folder) / choice.file
    return stored_file.read_text().strip() if stored_file.exists() else None


def made_before_release_0_3(settings: Settings) -> bool:
    """Whether DATA_DIR already holds the hub's secrets or database, from a release before the kept choices."""
    return bool(data_dir.owned_paths(Path(settings["DATA_DIR"]), sqlite_file(settings["DATABASE_URL"])))


def prepare_secrets(settings: Settings, say: Report) -> dict[str, str]:
    """Every secret the hub needs, explicit, stored or generated now; the hub's files made private."""
    resolved = resolve(settings)
    data_dir.keep_private(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
    generated = "ADMIN_PASSWORD" in resolved.generated
    announce_admin_login(settings, generated, resolved.values.get("ADMIN_PASSWORD"), say)
    if "BACKUP_PASSWORD" in resolved.generated:
        announce_backup_password(settings, resolved.values["BACKUP_PASSWORD"])
    return resolved.values


def announce_backup_password(settings: Settings, password: str) -> None:
    """The generated backup password, once, loudly: without it no snapshot can ever be restored."""
    stored = secret_path(settings["DATA_DIR"], STORED_BY_SETTING["BACKUP_PASSWORD"])
    rule = "!" * 72
    banner = [
        "First start with BACKUP_REPOSITORY: generated the backup password.",
        f"  backup password: {password}",
        "KEEP THIS SAFE, AWAY FROM THIS HOST: every snapshot is encrypted with it, and without it none can be",
        "restored (a lost disk takes DATA_DIR, where it is stored, with it). This is the only time it is logged.",
        f"It is stored in {stored}; show it again with: docker compose exec hub appliance backup --show-password",
    ]
    print("\n".join([rule, *banner, rule]), flush=True)


def announce_admin_login(settings: Settings, generated: bool, password: str | None, say: Report) -> None:
    """Tell the admin how to log in: the password itself only on the start that generated it."""
    if settings["AUTH_MODE"] not in ADMIN_PASSWORD_MODES or settings["ADMIN_PASSWORD"]:
        return
    url = (settings["PUBLIC_URL"] or f"http://localhost:{settings['HUB_PORT']}").rstrip("/")
    stored = secret_path(settings["DATA_DIR"], STORED_BY_SETTING["ADMIN_PASSWORD"])
    admin = present(settings["ADMIN_USERS"])[0]
    if generated:
        banner = [
            "First start: generated a password for the admin users.",
            f"  Log in at {url}/hub/login",
            f"  user name: {admin}",
            f"  password:  {password}",
            f"It is stored in {stored}; this is the only time it is logged.",
        ]
    else:
        banner = [f"Admin login: user {admin}, password stored in {stored}"]
        if settings["AUTH_MODE"] == "native":
            banner[0] += " (the first one: a password changed at /hub/change-password replaces it)"
    banner.append(f"Show it again with: docker compose exec hub cat {stored}")
    rule = "=" * 72
    print("\n".join([rule, *banner, rule]), flush=True)


def prepare_database(settings: Settings, say: Report) -> None:
    """Wait for PostgreSQL (bounded), then back up and upgrade the database when it needs it."""
    url = connect_url(settings)
    if not is_postgres(url):
        upgrade_sqlite_if_needed(settings["DATA_DIR"], url, report=say)
        return
    from appliance import postgres  # psycopg, only where PostgreSQL is used

    postgres.wait_for(url, settings["DATABASE_WAIT_SECONDS"], report=say)
    postgres.upgrade_if_needed(settings["DATA_DIR"], url, report=say)


def check_database(settings: Settings) -> Outcome:
    url = connect_url(settings)
    database = sqlite_file(url)
    if database is not None and not database.exists():
        return failed(f"no database at {database}", "start the hub once, or fix DATABASE_URL")
    try:
        revision = schema_revision_at(url)
        server = f"PostgreSQL {postgres_version(url)}, " if is_postgres(url) else ""
    except DatabaseError as error:
        return failed(
            f"cannot read the database: {error}",
            "check DATABASE_URL (and DATABASE_PASSWORD_FILE) and that the server runs",
        )
    head, _ = jupyterhub_revisions()
    if revision != head:
        return failed(
            f"schema {revision} is not JupyterHub {jupyterhub_version()}'s {head}",
            "restart the hub: it backs up the database (sqlite copy or pg_dump) and upgrades it",
        )
    return passed(f"{server}reachable, schema current ({head})")


def postgres_version(url: str) -> int:
    from appliance import postgres

    return postgres.server_major_version(url)
