"""The hub's database: the URL it connects with, schema revisions, and for sqlite online copies and upgrades.

A new appliance version, or an older schema, first gets a copy of the database in DATA_DIR/backups.
A sqlite upgrade never touches the original until it has succeeded: a second copy is upgraded, and
only then does that copy replace the original. PostgreSQL's side is in `appliance.postgres`.
"""

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from appliance import __version__
from appliance.declarations import present

BACKUPS_FOLDER = "backups"
VERSION_FILE = "appliance-version"
# The first version that records itself in VERSION_FILE; a database without that file is older.
RECORDED_SINCE = "0.2.0"
SQLITE_PREFIX = "sqlite:///"
# The file suffix of the copy each kind of database gets before an upgrade: an sqlite file, or a pg_dump.
COPY_SUFFIX = {"sqlite": "sqlite", "postgresql": "pgdump"}
PAGES_PER_STEP = 1024


class DatabaseError(Exception):
    """The database cannot be used or upgraded; the message says what was left where, and what to do."""


def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def connect_url(settings) -> str:
    """DATABASE_URL, with the password from DATABASE_PASSWORD_FILE when one is given: what the hub connects with."""
    url, password_file = settings["DATABASE_URL"], settings["DATABASE_PASSWORD_FILE"]
    if not password_file:
        return url
    password = Path(password_file).read_text().strip()
    parts = urlsplit(url)
    user, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def sqlite_file(database_url: str) -> Path | None:
    """The file behind a sqlite URL; None for other databases and in-memory sqlite."""
    if not database_url.startswith(SQLITE_PREFIX):
        return None
    path = database_url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def backups_dir(data_dir: str) -> Path:
    folder = Path(data_dir) / BACKUPS_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def schema_revision_at(url: str) -> str | None:
    """JupyterHub's alembic revision in the database at url, sqlite or PostgreSQL; None when it has none yet.
    DatabaseError when it cannot be read."""
    if is_postgres(url):
        from appliance import postgres  # psycopg, only where PostgreSQL is used

        return postgres.schema_revision(url)
    path = present(sqlite_file(url))
    try:
        return schema_revision(path)
    except sqlite3.Error as error:
        raise DatabaseError(f"{path} cannot be read as a database: {error}") from None


def users_last_activity(url: str) -> dict[str, datetime | None]:
    """Each user of the hub, with their last activity (UTC; None when they never used it)."""
    query = "SELECT name, last_activity FROM users"
    if is_postgres(url):
        from appliance import postgres

        with closing(postgres.connect(url)) as db:
            rows = db.execute(query).fetchall()
    else:
        with closing(sqlite3.connect(f"file:{present(sqlite_file(url))}?mode=ro", uri=True)) as db:
            rows = db.execute(query).fetchall()
    return {name: as_utc(when) for name, when in rows}


def remove_all_shares(url: str) -> dict[str, int]:
    """Every share and share code JupyterHub holds (tables of JupyterHub 5 and later), removed; how many of each.
    A database without them yet (new, or older) has none."""
    counts = {}
    try:
        with closing(connect_for_writing(url)) as db:
            for table in ("shares", "share_codes"):
                if has_table(db, url, table):
                    counts[table] = db.execute(f"DELETE FROM {table}").rowcount
            db.commit()
    except sqlite3.Error as error:
        raise DatabaseError(f"the shares in {sqlite_file(url)} cannot be revoked: {error}") from None
    return counts


def connect_for_writing(url: str):
    if is_postgres(url):
        from appliance import postgres

        return postgres.connect(url)
    return sqlite3.connect(present(sqlite_file(url)))


def has_table(db, url: str, table: str) -> bool:
    if is_postgres(url):
        return db.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


def as_utc(when: datetime | str | None) -> datetime | None:
    """JupyterHub's naive UTC times (sqlite gives them as text) as aware ones."""
    if when is None:
        return None
    parsed = datetime.fromisoformat(when) if isinstance(when, str) else when
    return parsed.replace(tzinfo=UTC)


def schema_revision(path: Path) -> str | None:
    """The alembic revision stamped in a sqlite database; None when it has none."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None


def online_copy(source: Path, target: Path, report: Callable[[str], None] | None = None) -> None:
    """A consistent copy through sqlite's online backup, safe while the hub writes to the source."""

    def progress(_status, remaining, total):
        if report and total > PAGES_PER_STEP:
            report(f"  copied {total - remaining} of {total} pages")

    target.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy, pages=PAGES_PER_STEP, progress=progress)
    target.chmod(0o600)


def jupyterhub_revisions() -> tuple[str, set[str]]:
    """This JupyterHub's schema head and every revision it knows."""
    from alembic.script import ScriptDirectory
    from jupyterhub import dbutil

    scripts = ScriptDirectory(dbutil.ALEMBIC_DIR)
    return present(scripts.get_current_head()), {script.revision for script in scripts.walk_revisions()}


def jupyterhub_version() -> str:
    from jupyterhub import __version__

    return __version__


def check_known_revision(where, revision: str | None, known: set[str], kind: str = "sqlite") -> None:
    if revision is not None and revision not in known:
        copies = f"jupyterhub-*.{COPY_SUFFIX[kind]}"
        raise DatabaseError(
            f"{where} has schema revision {revision}, which JupyterHub {jupyterhub_version()} does not know: a newer "
            "version of the appliance wrote it. Run that version again, or put back the copy made before its "
            f"upgrade (DATA_DIR/{BACKUPS_FOLDER}/{copies}) while the hub is stopped."
        )


def announce_upgrade(previous: str | None, current: str | None, head: str, schema_is_old: bool, report) -> None:
    if previous != __version__:
        report(f"Appliance {previous or f'before {RECORDED_SINCE}'} ran last on this data; this is {__version__}.")
    if schema_is_old:
        report(f"The database schema ({current}) is older than JupyterHub {jupyterhub_version()}'s ({head}).")


def backup_name(current: str | None, kind: str) -> str:
    return f"jupyterhub-{timestamp()}-schema-{current}-before-{__version__}.{COPY_SUFFIX[kind]}"


def upgrade_sqlite_if_needed(data_dir: str, database_url: str, report: Callable[[str], None]) -> Path | None:
    """Back up a sqlite database when the appliance version changed or its schema is older, then upgrade it.

    Returns the backup, if one was made. The version that ran last is kept in DATA_DIR/appliance-version,
    written only once the database is ready for this version.
    """
    path = sqlite_file(database_url)
    previous = recorded_version(data_dir)
    if path is None or not path.exists():
        record_version(data_dir)
        return None
    current = schema_revision(path)
    head, known = jupyterhub_revisions()
    check_known_revision(path, current, known)
    schema_is_old = current not in (None, head)
    if previous == __version__ and not schema_is_old:
        return None
    backup = backups_dir(data_dir) / backup_name(current, "sqlite")
    announce_upgrade(previous, current, head, schema_is_old, report)
    report(f"Backing up {path} to {backup}")
    online_copy(path, backup, report)
    if schema_is_old:
        upgrade_copy_then_replace(path, current, head, backup, report)
    record_version(data_dir)
    return backup


def upgrade_copy_then_replace(
    path: Path, current: str | None, head: str, backup: Path, report: Callable[[str], None]
) -> None:
    work = path.with_name(f"{path.name}.upgrading")
    online_copy(path, work, report)
    report("Upgrading a copy of the database")
    try:
        migrate(work)
    except Exception as error:
        work.unlink(missing_ok=True)
        raise DatabaseError(
            f"Upgrading the database failed: {error}. {path} is unchanged (schema {current}), and a copy of it is "
            f"in {backup}. Go back to the previous appliance version to keep using it, and report this error."
        ) from None
    os.replace(work, path)
    report(f"Database upgraded to {head}; the copy from before the upgrade is {backup}")


def recorded_version(data_dir: str) -> str | None:
    """The appliance version that last started on this DATA_DIR; None before RECORDED_SINCE or on a new one."""
    try:
        return (Path(data_dir) / VERSION_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def record_version(data_dir: str) -> None:
    target = Path(data_dir) / VERSION_FILE
    if recorded_version(data_dir) == __version__:
        return
    partial = target.with_name(f"{VERSION_FILE}.partial")
    partial.write_text(f"{__version__}\n")
    os.replace(partial, target)


def migrate(path: Path) -> None:
    """Run JupyterHub's own alembic migrations on the file, in this process."""
    from alembic import command
    from alembic.config import Config
    from jupyterhub import dbutil

    with tempfile.TemporaryDirectory() as folder:
        ini = os.path.join(folder, "alembic.ini")
        dbutil.write_alembic_ini(ini, f"{SQLITE_PREFIX}{path}")
        command.upgrade(Config(ini), "head")
