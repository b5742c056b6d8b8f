"""`appliance backup`, `restore` and `migrate-db`: the hub's database and secrets, with the hub stopped where
it must be."""

import os
import socket
import sys
from pathlib import Path

import docker.errors

from appliance import docker_host
from appliance.backup import (
    DEFAULT_MAX_DATABASE_BYTES,
    BackupError,
    create_backup,
    default_archive_path,
    restore_backup,
)
from appliance.commands import user_backups
from appliance.commands.common import EXIT_BAD_CONFIG, loaded_or_exit, say
from appliance.database import DatabaseError, connect_url, is_postgres
from appliance.declarations import Settings
from appliance.kinds import ByteSize, DatabaseUrl, Invalid, byte_count
from appliance.layout import HUB_PORT_INSIDE
from appliance.settings import database_url_of, without_credentials

BACKUP_HELP = "write the database and stored secrets to one archive; with --users, users' files too, with restic"
RESTORE_HELP = "put a backup's database and secrets back, with the hub stopped"
MIGRATE_HELP = "copy the sqlite database into an empty PostgreSQL database, with the hub stopped"


def add_backup_arguments(parser) -> None:
    parser.add_argument("--output", help="archive path, or - for stdout; default: a new file in DATA_DIR/backups")
    users = parser.add_mutually_exclusive_group()
    users.add_argument("--users", action="store_true", help="back users' files and the database up to "
                       "BACKUP_REPOSITORY now (restic), instead of the archive")  # fmt: skip
    users.add_argument("--check", action="store_true", help="check BACKUP_REPOSITORY's integrity (restic check)")
    users.add_argument("--show-password", action="store_true", help="print BACKUP_PASSWORD, to keep it safe")


def add_restore_arguments(parser) -> None:
    parser.add_argument("archive", help="archive path, or - for stdin")
    parser.add_argument(
        "--max-size",
        type=ByteSize(),
        default=str(DEFAULT_MAX_DATABASE_BYTES // 1024**3) + "G",
        help="the largest database the restore accepts, such as 20G (default: %(default)s)",
    )


def add_migrate_arguments(parser) -> None:
    parser.add_argument("--from", dest="source", help="the sqlite database (default: DATA_DIR/jupyterhub.sqlite)")
    parser.add_argument("--to", dest="target", help="a PostgreSQL URL (default: DATABASE_URL and its password file)")


def backup_command(args) -> int:
    if args.users or args.check or args.show_password:
        return user_backups.users_backup_command(args)
    settings = loaded_or_exit()
    if args.output == "-":
        return backup_to(settings, sys.stdout.buffer)
    path = Path(args.output) if args.output else default_archive_path(settings)
    partial = path.with_name(path.name + ".partial")
    try:
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as output:
            if backup_to(settings, output):
                return 1
        os.replace(partial, path)
    except OSError as error:
        say(f"Backup failed: {error}")
        return 1
    finally:
        partial.unlink(missing_ok=True)  # only left when the backup failed: no half-written archive stays
    say(f"Wrote {path}. It holds the hub's secrets: keep it private.")
    return 0


def backup_to(settings: Settings, output) -> int:
    try:
        create_backup(settings, output, report=say)
    except (BackupError, DatabaseError, OSError) as error:
        say(f"Backup failed: {error}")
        return 1
    return 0


def hubs_running(settings: Settings) -> list[str]:
    """This container, when a hub answers in it, and the running containers that share its DATA_DIR."""
    running = ["this container"] if hub_answers_here() else []
    try:
        running += docker_host.running_containers_sharing(docker_host.client(), settings["DATA_DIR"])
    except docker.errors.DockerException as error:
        say(f"Cannot ask Docker whether another hub uses this data ({error}); make sure none runs.")
    return running


def restore_command(args) -> int:
    settings = loaded_or_exit()
    running = hubs_running(settings)
    try:
        with open(args.archive, "rb") if args.archive != "-" else sys.stdin.buffer as source:
            restore_backup(settings, source, running, report=say, max_database_bytes=byte_count(args.max_size))
    except (BackupError, DatabaseError, OSError) as error:
        say(f"Restore failed: {error}")
        return 1
    return 0


def migrate_db_command(args) -> int:
    settings = loaded_or_exit()
    if running := hubs_running(settings):
        say(
            f"The hub is running ({', '.join(running)}) and would keep writing to sqlite. Stop it first: "
            "`docker compose stop hub`."
        )
        return 1
    source = args.source or database_url_of(settings)
    try:
        target = connect_url(settings) if args.target is None else DatabaseUrl()(args.target)
    except Invalid as error:
        say(f"--to {without_credentials(args.target)!r}: {error}")
        return EXIT_BAD_CONFIG
    if not is_postgres(target):
        say("migrate-db copies into PostgreSQL: give --to postgresql://…, or set DATABASE_URL (compose/postgres.yml).")
        return EXIT_BAD_CONFIG
    import sqlalchemy

    from appliance import migrate_db, postgres

    try:
        postgres.wait_for(target, settings["DATABASE_WAIT_SECONDS"], report=say)
        say(f"Copying {source} into the database at {postgres.server_of(target)}, in one transaction")
        copied = migrate_db.migrate(source, target, report=say)
    except DatabaseError as error:
        say(f"Migration failed: {error}")
        return 1
    except sqlalchemy.exc.SQLAlchemyError as error:
        say(f"Migration failed, and the transaction was rolled back: {without_credentials(postgres.one_line(error))}")
        return 1
    say(
        f"Copied {sum(copied.values())} rows in {len(copied)} tables; {source} is unchanged. "
        "Now start the hub with DATABASE_URL naming this database."
    )
    return 0


def hub_answers_here() -> bool:
    """Whether a hub process listens in this container (restore is then run through `docker compose exec`)."""
    try:
        socket.create_connection(("127.0.0.1", HUB_PORT_INSIDE), timeout=2).close()
    except OSError:
        return False
    return True
