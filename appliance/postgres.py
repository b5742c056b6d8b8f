"""The hub's PostgreSQL database: waiting for it, its schema revision, pg_dump and pg_restore, and upgrades.

An upgrade first dumps the database to DATA_DIR/backups, then runs JupyterHub's migrations in one
transaction (PostgreSQL's DDL is transactional), so a failed upgrade leaves the database as it was.
The command-line tools get the password through PGPASSWORD, never on their command line.
"""

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from appliance import __version__
from appliance.database import (
    DatabaseError,
    announce_upgrade,
    backup_name,
    backups_dir,
    check_known_revision,
    jupyterhub_revisions,
    record_version,
    recorded_version,
)
from appliance.declarations import present
from appliance.redaction import without_credentials

Report = Callable[[str], None]
RETRY_SECONDS = 2
CONNECT_TIMEOUT_SECONDS = 10
# Refusals that waiting does not cure: a wrong password, user or database name.
FINAL_REFUSALS = ("authentication failed", "does not exist", "no pg_hba.conf entry")


def libpq_target(url: str) -> tuple[str, str | None]:
    """The libpq URI of a DATABASE_URL without its password, and the password."""
    parts = urlsplit(url)
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    uri = urlunsplit(parts._replace(scheme="postgresql", netloc=f"{user}@{host}"))
    return uri, unquote(password) if password else None


def server_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def connect(url: str, timeout: float = CONNECT_TIMEOUT_SECONDS):
    import psycopg

    uri, password = libpq_target(url)
    return psycopg.connect(uri, password=password, connect_timeout=max(1, round(timeout)))


def wait_for(url: str, seconds: int, report: Report) -> int:
    """Connect within `seconds`, retrying while the server is not there yet; returns the server's version number."""
    import psycopg

    deadline = time.monotonic() + seconds
    for attempt in range(1, seconds // RETRY_SECONDS + 2):
        remaining = deadline - time.monotonic()
        try:
            with connect(url, timeout=min(CONNECT_TIMEOUT_SECONDS, max(remaining, 1))) as connection:
                return connection.info.server_version
        except psycopg.OperationalError as error:
            reason = one_line(error)
            if any(refusal in reason for refusal in FINAL_REFUSALS):
                raise DatabaseError(
                    f"DATABASE_URL={without_credentials(url)!r}: PostgreSQL refused the connection: {reason}. "
                    "Check the user, the password (in DATABASE_URL or DATABASE_PASSWORD_FILE) and the database name."
                ) from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        report(f"Waiting for PostgreSQL at {server_of(url)} (attempt {attempt}, {remaining:.0f} s left): {reason}")
        time.sleep(min(RETRY_SECONDS, remaining))
    raise DatabaseError(
        f"DATABASE_URL={without_credentials(url)!r}: PostgreSQL at {server_of(url)} did not answer within {seconds} s "
        f"(DATABASE_WAIT_SECONDS): {reason}. Start the database, or fix the host and port in DATABASE_URL."
    )


def one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or error.__class__.__name__


def schema_revision(url: str) -> str | None:
    """JupyterHub's alembic revision in the database; None when it has no tables of JupyterHub's yet."""
    row = query_one(url, "SELECT version_num FROM alembic_version", missing_table_is_none=True)
    return row[0] if row else None


def server_major_version(url: str) -> int:
    return int(present(query_one(url, "SHOW server_version_num"))[0]) // 10000


def table_count(url: str) -> int:
    sql = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    return present(query_one(url, sql))[0]


def query_one(url: str, sql: str, missing_table_is_none: bool = False) -> tuple | None:
    import psycopg

    try:
        with connect(url) as connection:
            return connection.execute(sql).fetchone()
    except psycopg.errors.UndefinedTable:
        if missing_table_is_none:
            return None
        raise
    except psycopg.Error as error:
        raise DatabaseError(f"DATABASE_URL={without_credentials(url)!r}: {one_line(error)}") from None


def dump(url: str, target: Path, report: Report) -> None:
    """pg_dump's custom format into target (mode 0600), reporting each table as it is dumped."""
    uri, password = libpq_target(url)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    command = ["pg_dump", "--verbose", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", uri]
    try:
        run_tool(command, password, report, progress="dumping contents of table")
    except DatabaseError:
        target.unlink(missing_ok=True)
        raise
    report(f"  wrote {target} ({target.stat().st_size} bytes)")


def restore(url: str, dump_file: Path, report: Report) -> None:
    """pg_restore into an empty database, in one transaction."""
    tables = table_count(url)
    if tables:
        raise DatabaseError(
            f"The database at {server_of(url)} already has {tables} table(s); a restore goes only into an empty "
            "database, so nothing was restored. Restore into a new, empty database (with compose/postgres.yml: "
            "stop the stack and remove its postgres-data volume once you have kept what you need)."
        )
    uri, password = libpq_target(url)
    command = ["pg_restore", "--verbose", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    run_tool([*command, f"--dbname={uri}", str(dump_file)], password, report, progress="processing data for table")


def run_tool(command: list[str], password: str | None, report: Report, progress: str) -> None:
    """Run pg_dump or pg_restore, passing on its progress lines; raise DatabaseError with its errors."""
    environment = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    other_lines = []
    try:
        with subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as process:
            for raw in present(process.stderr):
                line = raw.decode(errors="replace").rstrip()
                if progress in line:
                    report(f"  {line}")
                elif "error" in line.lower() or "fatal" in line.lower():
                    other_lines.append(line)
    except FileNotFoundError:
        raise DatabaseError(f"{command[0]} is not installed here: run this in the hub container.") from None
    if process.returncode:
        errors = "; ".join(other_lines[-5:]) or f"exit code {process.returncode}"
        raise DatabaseError(f"{command[0]} failed: {without_credentials(errors)}")


def upgrade_if_needed(data_dir: str, url: str, report: Report) -> Path | None:
    """Dump the database when the appliance version changed or its schema is older, then upgrade it."""
    current = schema_revision(url)
    head, known = jupyterhub_revisions()
    check_known_revision(f"The database at {server_of(url)}", current, known, kind="postgresql")
    previous = recorded_version(data_dir)
    schema_is_old = current not in (None, head)
    if current is None or (previous == __version__ and not schema_is_old):
        record_version(data_dir)
        return None
    backup = backups_dir(data_dir) / backup_name(current, "postgresql")
    announce_upgrade(previous, current, head, schema_is_old, report)
    report(f"Backing up the database at {server_of(url)} to {backup} (pg_dump)")
    dump(url, backup, report)
    if schema_is_old:
        report("Upgrading the database, in one transaction")
        try:
            migrate(url)
        except Exception as error:
            raise DatabaseError(
                f"Upgrading the database failed: {one_line(error)}. The transaction was rolled back, so the database "
                f"is unchanged (schema {current}), and its dump from before is {backup}. Go back to the previous "
                "appliance version to keep using it, and report this error."
            ) from None
        report(f"Database upgraded to {head}; the dump from before the upgrade is {backup}")
    record_version(data_dir)
    return backup


def migrate(url: str) -> None:
    """JupyterHub's alembic migrations, all in one transaction that commits only when every step succeeded."""
    import sqlalchemy
    from alembic import command

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as connection, connection.begin(), alembic_on(connection) as config:
        command.upgrade(config, "head")


@contextmanager
def alembic_on(connection) -> Iterator:
    """Alembic's config for JupyterHub's migrations, run on a connection that is already in a transaction:
    alembic then commits nothing itself. The URL (and its password) stays off the disk."""
    from alembic.config import Config
    from jupyterhub import dbutil

    with tempfile.TemporaryDirectory() as folder:
        ini = os.path.join(folder, "alembic.ini")
        dbutil.write_alembic_ini(ini, "postgresql+psycopg://")
        config = Config(ini)
        config.attributes["connection"] = OneConnection(connection)  # what JupyterHub's env.py connects with
        yield config


class OneConnection:
    """What alembic's env.py calls `.connect()` on, handing out the one connection it was given."""

    def __init__(self, connection):
        self.connection = connection

    @contextmanager
    def connect(self) -> Iterator:
        yield self.connection
