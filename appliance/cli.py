"""The `appliance` command: run the hub, check the environment, render the docs."""

import argparse
import os
import socket
import sys
from pathlib import Path

import docker.errors

from appliance import __version__, docker_host, image_pulls, profiles, reconcile
from appliance.backup import (
    DEFAULT_MAX_DATABASE_BYTES,
    BackupError,
    create_backup,
    default_archive_path,
    restore_backup,
)
from appliance.data_dir import DataDirError, check_data_dir, keep_private
from appliance.database import DatabaseError, connect_url, is_postgres, sqlite_file, upgrade_sqlite_if_needed
from appliance.declarations import StartRefused
from appliance.docs import VERSIONED_FILES, stale_files, write
from appliance.kinds import ByteSize, DatabaseUrl, Invalid, byte_count
from appliance.labels import LABEL_INSTANCE
from appliance.layout import HUB_PORT_INSIDE
from appliance.login import LOGIN_MODES
from appliance.misspelt import misspelt_settings
from appliance.network_rules import (
    ISOLATION_OFF_WARNING,
    NetworkRulesError,
    cannot_isolate_message,
    check_on_this_host,
)
from appliance.secret_store import STORED_BY_SETTING, StoredSecretError, resolve, secret_path
from appliance.settings import (
    ADMIN_PASSWORD_MODES,
    BY_NAME,
    REDACTED,
    SETTINGS,
    Settings,
    SettingsError,
    database_url_of,
    egress_allow_warning,
    load,
    plain_http_warning,
    without_credentials,
)
from appliance.tls import TlsFrontError, https_enabled, prepare_tls_front

SUPERVISORD_CONF = "/etc/jupyterhub/supervisord.conf"
EXIT_BAD_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands_by_name = {
        "run": run,
        "check": check,
        "doctor": doctor,
        "docs": docs_command,
        "backup": backup_command,
        "restore": restore_command,
        "migrate-db": migrate_db_command,
        "stop-servers": stop_servers_command,
        "reconcile": reconcile.run,
        "pull-ahead": image_pulls.run,
    }
    return commands_by_name[args.command](args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="check the settings, resolve the secrets, then exec supervisord")
    commands.add_parser("check", help="check the settings and print them, secrets redacted")
    commands.add_parser("doctor", help="check the running appliance end to end; exit 1 on any failure")
    docs = commands.add_parser("docs", help="render the settings docs and .env.example from the declarations")
    docs.add_argument("--write", action="store_true", help="write the files instead of checking them")
    docs.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root")
    backup = commands.add_parser("backup", help="write the database and stored secrets to one archive (no user data)")
    backup.add_argument("--output", help="archive path, or - for stdout; default: a new file in DATA_DIR/backups")
    restore = commands.add_parser("restore", help="put a backup's database and secrets back, with the hub stopped")
    restore.add_argument("archive", help="archive path, or - for stdin")
    restore.add_argument(
        "--max-size",
        type=ByteSize(),
        default=str(DEFAULT_MAX_DATABASE_BYTES // 1024**3) + "G",
        help="the largest database the restore accepts, such as 20G (default: %(default)s)",
    )
    commands.add_parser("stop-servers", help="stop and remove every user server of this hub (their volumes stay)")
    migrate = commands.add_parser(
        "migrate-db", help="copy the sqlite database into an empty PostgreSQL database, with the hub stopped"
    )
    migrate.add_argument("--from", dest="source", help="the sqlite database (default: DATA_DIR/jupyterhub.sqlite)")
    migrate.add_argument("--to", dest="target", help="a PostgreSQL URL (default: DATABASE_URL and its password file)")
    reconcile.add_arguments(
        commands.add_parser("reconcile", help="(run by the hub) check Docker's containers against the hub")
    )
    image_pulls.add_arguments(
        commands.add_parser("pull-ahead", help="(run by the hub) pull the user images this host lacks")
    )
    return parser


def loaded_or_exit() -> Settings:
    try:
        return load(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)


def exit_without_restart_loop(message: str) -> None:
    """Print why the hub cannot start and exit; Docker is told not to restart it into the same error."""
    print(message, file=sys.stderr)
    if docker_host.stop_restarting_self():
        print(
            "This container will not restart by itself: fix the cause, then `docker compose up -d --force-recreate hub`"
            " (which also restores its restart policy).",
            file=sys.stderr,
        )
    sys.exit(EXIT_BAD_CONFIG)


def warn_about_misspelt_settings() -> None:
    for warning in misspelt_settings(os.environ):
        say(f"Warning: {warning}")


def check(_args) -> int:
    warn_about_misspelt_settings()
    settings = loaded_or_exit()
    width = max(len(setting.name) for setting in SETTINGS)
    for setting in SETTINGS:
        print(f"{setting.name:<{width}}  {displayed(setting.name, settings[setting.name])}")
    print("\nProfiles users choose from:")
    for profile in profiles.in_use(settings):
        print(f"  {profile.summary()}")
    return 0


def doctor(_args) -> int:
    # Imported here: the doctor pulls in JupyterHub, SQLAlchemy and alembic, which `run` does not need.
    from appliance.doctor import diagnose, render

    results = diagnose(os.environ)
    print(render(results))
    failures = [result.name for result in results if result.outcome is not None and not result.outcome.ok]
    warnings = [result.name for result in results if result.outcome is not None and result.outcome.warning]
    print(f"\n{len(failures)} check(s) failed: {', '.join(failures)}" if failures else "\nAll checks passed.")
    if warnings:
        print(f"{len(warnings)} warning(s): {', '.join(warnings)}")
    return 1 if failures else 0


def displayed(name: str, value) -> str:
    if value is None:
        return "(unset)"
    if BY_NAME[name].secret:
        return REDACTED
    separator = getattr(BY_NAME[name].kind, "separator", ",")  # as the list was written
    return without_credentials(separator.join(map(str, value)) if isinstance(value, tuple) else str(value))


def run(_args) -> int:
    warn_about_misspelt_settings()
    try:
        settings = load(os.environ)
        start_login_mode(settings)
        check_data_dir(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
        resolved = resolve(settings)
        prepare_database(settings)
        keep_private(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
        check_network_isolation(settings)
        join_networks_of_running_servers(settings)
        if https_enabled(settings):
            prepare_tls_front(settings)
    except (SettingsError, StoredSecretError, DataDirError, DatabaseError, StartRefused) as error:
        exit_without_restart_loop(str(error))
    except NetworkRulesError as error:
        exit_without_restart_loop(cannot_isolate_message(str(error)))
    except TlsFrontError as error:
        exit_without_restart_loop(str(error))
    except OSError as error:
        exit_without_restart_loop(f"DATA_DIR={settings['DATA_DIR']!r} cannot be used: {error}")
    announce_admin_login(settings, "ADMIN_PASSWORD" in resolved.generated, resolved.values.get("ADMIN_PASSWORD"))
    for warning in (plain_http_warning(settings), egress_allow_warning(settings)):
        if warning:
            say(warning)
    # supervisord starts the TLS front only when HTTPS is on.
    environment = {**os.environ, **resolved.values, "APPLIANCE_TLS_FRONT": str(https_enabled(settings)).lower()}
    sys.stdout.flush()
    os.execvpe("supervisord", ["supervisord", "-c", SUPERVISORD_CONF], environment)


def prepare_database(settings: Settings) -> None:
    """Wait for PostgreSQL (bounded), then back up and upgrade the database when it needs it."""
    url = connect_url(settings)
    if not is_postgres(url):
        upgrade_sqlite_if_needed(settings["DATA_DIR"], url, report=say)
        return
    from appliance import postgres  # psycopg, only where PostgreSQL is used

    postgres.wait_for(url, settings["DATABASE_WAIT_SECONDS"], report=say)
    postgres.upgrade_if_needed(settings["DATA_DIR"], url, report=say)


def start_login_mode(settings: Settings) -> None:
    """The login mode's own start step (oidc: wait for the issuer), before the hub starts."""
    LOGIN_MODES[settings["AUTH_MODE"]].start(settings, say)


def check_network_isolation(settings: Settings) -> None:
    """Fail closed: with isolation on, the hub starts only where the rules can be applied; off, it says so."""
    if settings["USER_NETWORK_ISOLATION"] == "off":
        say(ISOLATION_OFF_WARNING)
        return
    check_on_this_host(settings["APPLIANCE_INSTANCE"])
    say("User servers get network rules (USER_NETWORK_ISOLATION=on): checked that this host can apply them.")


def join_networks_of_running_servers(settings: Settings) -> None:
    """Servers still on a network from before DOCKER_NETWORK changed keep working: the hub joins it too."""
    if settings["SPAWNER_MODE"] == "swarm":
        return
    try:
        engine = docker_host.client()
        joined = docker_host.join_networks_of_running_servers(
            engine, settings["APPLIANCE_INSTANCE"], settings["DOCKER_NETWORK"]
        )
    except docker.errors.DockerException as error:
        say(f"Could not check which networks running user servers are on: {error}")
        return
    for network in joined:
        say(
            f"User servers started before DOCKER_NETWORK={settings['DOCKER_NETWORK']} run on the network {network}; "
            f"the hub joined it too, so they keep working. New servers start on {settings['DOCKER_NETWORK']}; remove "
            f"{network} (`docker network rm {network}`) once those servers have stopped."
        )


def announce_admin_login(settings: Settings, generated: bool, password: str | None) -> None:
    """Tell the admin how to log in: the password itself only on the start that generated it."""
    if settings["AUTH_MODE"] not in ADMIN_PASSWORD_MODES or settings["ADMIN_PASSWORD"]:
        return
    url = (settings["PUBLIC_URL"] or f"http://localhost:{settings['HUB_PORT']}").rstrip("/")
    stored = secret_path(settings["DATA_DIR"], STORED_BY_SETTING["ADMIN_PASSWORD"])
    admin = settings["ADMIN_USERS"][0]
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


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def backup_command(args) -> int:
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


def stop_servers_command(_args) -> int:
    settings = loaded_or_exit()
    instance = settings["APPLIANCE_INSTANCE"]
    try:
        stopped = reconcile.stop_all(docker_host.client(), instance, settings["SPAWNER_MODE"] == "swarm", report=say)
    except docker.errors.DockerException as error:
        say(f"Stopping the user servers failed: {error}")
        return 1
    volumes = f"docker volume ls --filter label={LABEL_INSTANCE}={instance}"
    say(f"Stopped {stopped} user server(s). Their volumes stay: `{volumes}` lists them.")
    return 0


def hub_answers_here() -> bool:
    """Whether a hub process listens in this container (restore is then run through `docker compose exec`)."""
    try:
        socket.create_connection(("127.0.0.1", HUB_PORT_INSIDE), timeout=2).close()
    except OSError:
        return False
    return True


def docs_command(args) -> int:
    if args.write:
        write(args.root)
        return 0
    stale = stale_files(args.root)
    for name in stale:
        source = "the version in appliance/__init__.py" if name in VERSIONED_FILES else "appliance/settings.py"
        print(f"{name} differs from {source}; run `appliance docs --write`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
