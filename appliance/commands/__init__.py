"""The `appliance` command's subcommands: each names itself, declares its arguments and hands off to the module
that owns the work (`appliance.cli` builds the parser from this list)."""

from collections.abc import Callable
from dataclasses import dataclass

from appliance import image_pulls, reconcile
from appliance.commands import data, inspect, run, servers, storage, user_backups, user_data


def no_arguments(_parser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[..., int]
    add_arguments: Callable = no_arguments


COMMANDS = (
    Command("run", run.HELP, run.run),
    Command("check", inspect.CHECK_HELP, inspect.check),
    Command("doctor", inspect.DOCTOR_HELP, inspect.doctor),
    Command("docs", inspect.DOCS_HELP, inspect.docs_command, inspect.add_docs_arguments),
    Command("backup", data.BACKUP_HELP, data.backup_command, data.add_backup_arguments),
    Command("restore", data.RESTORE_HELP, data.restore_command, data.add_restore_arguments),
    Command("snapshots", user_backups.SNAPSHOTS_HELP, user_backups.snapshots_command,
            user_backups.add_snapshots_arguments),
    Command("restore-user", user_backups.RESTORE_USER_HELP, user_backups.restore_user_command,
            user_backups.add_restore_user_arguments),
    Command("backups-service", "(run by the hub) back users' files up on schedule; serve users' restore page",
            user_backups.run_service, user_backups.add_service_arguments),
    Command("stop-servers", servers.HELP, servers.stop_servers_command),
    Command("user-data", user_data.HELP, user_data.user_data_command, user_data.add_arguments),
    Command("storage", storage.HELP, storage.storage_command, storage.add_arguments),
    Command("migrate-db", data.MIGRATE_HELP, data.migrate_db_command, data.add_migrate_arguments),
    Command("reconcile", "(run by the hub) check Docker's containers against the hub", reconcile.run,
            reconcile.add_arguments),
    Command("pull-ahead", "(run by the hub) pull the user images this host lacks", image_pulls.run,
            image_pulls.add_arguments),
)  # fmt: skip
