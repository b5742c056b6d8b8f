"""The hub's own data: DATA_DIR writable, with room, its secrets and database the hub's own and private; the naming
of users' containers and volumes kept; the secrets resolved (and the admins told how to log in); the database
reachable, backed up and upgraded."""

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
from appliance.declarations import Outcome, Report, Settings, failed, passed, present
from appliance.layout import CONTAINER_NAMES_FILE
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


def prepare_container_names(settings: Settings, say: Report) -> dict[str, str]:
    """CONTAINER_NAMES as set, else as the install's first start decided (kept in DATA_DIR): `legacy` when an older
    release made this DATA_DIR (its users' volumes have the old names), `instance` for a new install."""
    stored_file = Path(settings["DATA_DIR"]) / CONTAINER_NAMES_FILE
    stored = stored_container_names(settings["DATA_DIR"])
    naming = settings["CONTAINER_NAMES"] or stored or ("legacy" if made_before_instance_names(settings) else "instance")
    if stored is None and naming == "legacy":
        say("This install was made by a release before 0.3: its users' containers and volumes keep their names "
            "(jupyter-USER, jupyterhub-user-USER), CONTAINER_NAMES=legacy. docs/operations.md says how to run two "
            "appliances on one host.")  # fmt: skip
    elif stored is not None and naming != stored:
        say(f"CONTAINER_NAMES changes from {stored} to {naming}: users' servers get new, empty volumes under the new "
            "names. Their old volumes stay as they are (docs/operations.md says how to move their files).")  # fmt: skip
    if naming != stored:
        write_private(stored_file, naming)
    return {"CONTAINER_NAMES": naming}


def stored_container_names(folder: str) -> str | None:
    """The naming this install's first start decided (CONTAINER_NAMES), if DATA_DIR has it."""
    stored_file = Path(folder) / CONTAINER_NAMES_FILE
    return stored_file.read_text().strip() if stored_file.exists() else None


def made_before_instance_names(settings: Settings) -> bool:
    """Whether DATA_DIR already holds the hub's secrets or database, from a release before per-instance names."""
    return bool(data_dir.owned_paths(Path(settings["DATA_DIR"]), sqlite_file(settings["DATABASE_URL"])))


def prepare_secrets(settings: Settings, say: Report) -> dict[str, str]:
    """Every secret the hub needs, explicit, stored or generated now; the hub's files made private."""
    resolved = resolve(settings)
    data_dir.keep_private(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
    generated = "ADMIN_PASSWORD" in resolved.generated
    announce_admin_login(settings, generated, resolved.values.get("ADMIN_PASSWORD"), say)
    return resolved.values


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
