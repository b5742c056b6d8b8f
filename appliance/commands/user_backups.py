"""`appliance backup --users|--check|--show-password`, `appliance snapshots` and `appliance restore-user`: users'
files in BACKUP_REPOSITORY (appliance.storage.backups)."""

import re
import sys

import docker.errors

from appliance import docker_host
from appliance.commands.common import EXIT_BAD_CONFIG, columns, loaded_or_exit, say
from appliance.declarations import Settings
from appliance.storage import backups
from appliance.storage.backups import BackupError, Snapshot

SNAPSHOTS_HELP = "list the snapshots of users' files in BACKUP_REPOSITORY"
RESTORE_USER_HELP = "restore a user's files from a snapshot, into a new folder of their home or an empty volume"
PROGRESS = re.compile(r"\s*([\d.]+) of ([\d.]+) MB \((\d+)%\)")
BAR_WIDTH = 30


def add_snapshots_arguments(parser) -> None:
    parser.add_argument("--user", help="only this user's snapshots")


def add_restore_user_arguments(parser) -> None:
    parser.add_argument("user", help="the user whose files come back")
    parser.add_argument("--snapshot", default="latest", help="a snapshot ID (or its start), or latest (default): "
                        "the newest of each of the user's volumes")  # fmt: skip
    parser.add_argument("--path", default="", help="only this folder of the home (default: the whole home)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--into", default="", help="a new folder of the home to restore into "
                       "(default: restored-DATE; nothing is overwritten)")  # fmt: skip
    where.add_argument("--replace", action="store_true", help="refill the user's empty or lost volume instead")


def configured_or_exit() -> Settings:
    settings = loaded_or_exit()
    if settings["BACKUP_REPOSITORY"] is None:
        say("Backups of users' files need BACKUP_REPOSITORY (docs/backups.md)")
        sys.exit(EXIT_BAD_CONFIG)
    return settings


def users_backup_command(args) -> int:
    """`appliance backup --users`, `--check` or `--show-password`."""
    settings = configured_or_exit()
    try:
        if args.show_password:
            print(backups.password_of(settings))
            return 0
        engine = docker_host.client(timeout=backups.RUN_SECONDS)
        if args.check:
            say(f"Checking the repository {backups.redacted(backups.repository_of(settings))} (restic check)")
            say(f"Repository checked: {backups.check(engine, settings, progress_report())}")
            return 0
        status = backups.back_up(engine, settings, progress_report())
    except (BackupError, docker.errors.DockerException) as error:
        say(f"The backup of users' files failed: {error}")
        backups.tell_hub_log(f"`appliance backup --users` failed: {error}")
        return 1
    say(f"Backed up {backups.summary(status)}")
    backups.tell_hub_log(f"`appliance backup --users` backed up {backups.summary(status)}")
    return 0


def progress_report():
    """Each line to stderr; on a terminal, restic's progress as one bar that redraws itself."""
    return ProgressBar(sys.stderr.isatty())


class ProgressBar:
    def __init__(self, terminal: bool):
        self.terminal, self.drawn = terminal, False

    def __call__(self, line: str) -> None:
        match = PROGRESS.fullmatch(line)
        if self.terminal and match:
            done = int(match[3]) * BAR_WIDTH // 100
            print(f"\r  [{'#' * done}{'.' * (BAR_WIDTH - done)}] {line.strip()}", end="", file=sys.stderr, flush=True)
            self.drawn = True
            return
        if self.drawn:
            print(file=sys.stderr)
            self.drawn = False
        say(line)


def snapshots_command(args) -> int:
    settings = configured_or_exit()
    try:
        found = backups.snapshots(docker_host.client(), settings, args.user)
    except (BackupError, docker.errors.DockerException) as error:
        say(f"Listing the snapshots failed: {error}")
        return 1
    print(snapshot_table(found))
    return 0


def snapshot_table(found: list[Snapshot]) -> str:
    rows = [("ID", "TIME (UTC)", "KIND", "USER", "SERVER", "VOLUME")]
    rows += [(one.short_id, f"{one.time:%Y-%m-%d %H:%M:%S}", one.kind, one.user or "-", one.server or "-",
              one.volume) for one in found]  # fmt: skip
    return columns(rows)


def restore_user_command(args) -> int:
    settings = configured_or_exit()
    try:
        engine = docker_host.client(timeout=backups.RUN_SECONDS)
        chosen = backups.chosen_snapshots(backups.snapshots(engine, settings, args.user), args.user, args.snapshot)
        for snapshot in chosen:
            if args.replace:
                backups.restore_replacing(engine, settings, snapshot, progress_report())
            else:
                backups.restore_into(engine, settings, snapshot, progress_report(), args.path, args.into)
    except (BackupError, docker.errors.DockerException) as error:
        say(f"The restore of {args.user}'s files failed: {error}")
        return 1
    return 0


def add_service_arguments(parser) -> None:
    parser.add_argument("--no-schedule", action="store_true", help="serve the restore page only")


def run_service(args) -> int:
    from appliance.storage import backup_service  # tornado and JupyterHub's service auth, only for the service

    return backup_service.run(args)
