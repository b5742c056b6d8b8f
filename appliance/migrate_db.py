"""`appliance migrate-db`: copy the hub's sqlite database into an empty PostgreSQL database.

Everything the hub keeps (users, groups, roles, tokens, servers and their state, OAuth clients, and
NativeAuthenticator's accounts) is copied table by table in one transaction, so the target is either
complete or still empty. The sqlite file is left as it was.
"""

from collections.abc import Callable

from appliance.database import DatabaseError, jupyterhub_revisions, schema_revision, sqlite_file
from appliance.postgres import alembic_on, server_of, table_count

Report = Callable[[str], None]
ROWS_PER_BATCH = 1000
# Tables of sqlite itself and of alembic, which the target gets its own way.
NOT_COPIED = {"alembic_version", "sqlite_sequence"}


def hub_metadata():
    """The tables of JupyterHub's ORM and of NativeAuthenticator, which adds its own to the same metadata."""
    import nativeauthenticator.orm  # noqa: F401 - registers users_info
    from jupyterhub import orm

    return orm.Base.metadata


def migrate(source_url: str, target_url: str, report: Report) -> dict[str, int]:
    """Copy every table; returns the rows copied per table."""
    import sqlalchemy

    source_file = sqlite_file(source_url)
    if source_file is None or not source_file.exists():
        raise DatabaseError(f"There is no sqlite database at {source_url.removeprefix('sqlite:///')} to copy.")
    head, _ = jupyterhub_revisions()
    revision = schema_revision(source_file)
    if revision != head:
        raise DatabaseError(
            f"{source_file} has schema {revision}, not this JupyterHub's {head}: start this appliance version once on "
            "it (which backs it up and upgrades it), stop the hub, then migrate."
        )
    if existing := table_count(target_url):
        raise DatabaseError(
            f"The database at {server_of(target_url)} already has {existing} table(s); migrate-db copies only into an "
            "empty database, so nothing was copied."
        )
    metadata = hub_metadata()
    source = sqlalchemy.create_engine(source_url, poolclass=sqlalchemy.pool.NullPool)
    present = set(sqlalchemy.inspect(source).get_table_names())
    unknown = present - set(metadata.tables) - NOT_COPIED
    if unknown:
        raise DatabaseError(
            f"{source_file} has tables this hub does not know ({', '.join(sorted(unknown))}); nothing was copied."
        )
    target = sqlalchemy.create_engine(target_url, poolclass=sqlalchemy.pool.NullPool)
    with source.connect() as reading, target.connect() as writing, writing.begin():
        metadata.create_all(writing)
        stamp_head(writing)
        tables = [table for table in metadata.sorted_tables if table.name in present]
        copied = {table.name: copy_table(table, reading, writing, report) for table in tables}
        for table in tables:
            continue_sequences(table, writing)
    return copied


def copy_table(table, reading, writing, report: Report) -> int:
    rows = reading.execute(table.select()).mappings()
    count = 0
    while batch := [dict(row) for row in rows.fetchmany(ROWS_PER_BATCH)]:
        writing.execute(table.insert(), batch)
        count += len(batch)
    report(f"  {table.name}: {count} row(s)")
    return count


def stamp_head(connection) -> None:
    """Record JupyterHub's current schema revision, as the hub does when it creates a new database."""
    from alembic import command

    with alembic_on(connection) as config:
        command.stamp(config, "head")


def continue_sequences(table, connection) -> None:
    """A key that PostgreSQL numbers itself continues after the copied rows."""
    import sqlalchemy

    column = table.autoincrement_column
    if column is None:
        return
    quote = connection.dialect.identifier_preparer.quote
    after_largest = f"COALESCE(MAX({quote(column.name)}), 0) + 1, false) FROM {quote(table.name)}"
    connection.execute(
        sqlalchemy.text(f"SELECT setval(pg_get_serial_sequence(:table, :column), {after_largest}"),
        {"table": table.name, "column": column.name},
    )
