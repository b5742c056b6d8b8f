"""`appliance user-data list|archive|remove`: users' volumes of this instance, with each user's last activity;
archiving or removing those of named users, or of users inactive for a number of days. Nothing is removed
without `--yes` (remove) or `--remove` after a checked archive."""

import argparse
from datetime import UTC, datetime

import docker.errors

from appliance import docker_host
from appliance.commands.common import EXIT_BAD_CONFIG, columns, loaded_or_exit, say
from appliance.database import DatabaseError, connect_url, users_last_activity
from appliance.storage import lifecycle
from appliance.storage.lifecycle import UserData, UserDataError

HELP = "list users' volumes with their last activity; archive or remove those of given or inactive users"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("list", "archive", "remove"))
    parser.add_argument("users", nargs="*", help="user names (archive, remove)")
    parser.add_argument("--inactive-days", type=positive_days, help="only users inactive this long (or deleted)")
    parser.add_argument("--remove", action="store_true", help="archive: remove the volumes once archived")
    parser.add_argument("--yes", action="store_true", help="remove: the volumes are removed for good")


def positive_days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days of at least 1")
    return int(text)


def user_data_command(args) -> int:
    settings = loaded_or_exit()
    if settings["SPAWNER_MODE"] != "docker":
        say(f"`appliance user-data` works in docker mode; SPAWNER_MODE={settings['SPAWNER_MODE']} keeps users' files "
            "elsewhere (system mode: their host homes; swarm mode: each node's volumes or SWARM_HOMES).")  # fmt: skip
        return EXIT_BAD_CONFIG
    if args.action != "list" and not (args.users or args.inactive_days):
        say(f"`appliance user-data {args.action}` needs user names or --inactive-days")
        return EXIT_BAD_CONFIG
    if args.action == "remove" and not args.yes:
        say("`appliance user-data remove` removes users' files for good: add --yes (or archive them first)")
        return EXIT_BAD_CONFIG
    try:
        engine = docker_host.client(timeout=lifecycle.ARCHIVE_SECONDS)
        data = chosen(lifecycle.inventory(engine, settings["APPLIANCE_INSTANCE"], hub_users(settings)), args)
        if args.action == "list":
            print(table(data))
            return 0
        return act(engine, settings["APPLIANCE_INSTANCE"], data, args)
    except (docker.errors.DockerException, DatabaseError, UserDataError) as error:
        say(f"`appliance user-data {args.action}` failed: {error}")
        return 1


def hub_users(settings) -> dict:
    try:
        return users_last_activity(connect_url(settings))
    except Exception as error:  # sqlite3 or psycopg: either way the hub's users are unknown
        raise DatabaseError(f"cannot read the hub's users: {error}") from None


def chosen(data: list[UserData], args) -> list[UserData]:
    """The named users (each must have data or be a hub user), and of those (or all) the inactive ones."""
    if args.users:
        known = {one.user for one in data}
        unknown = [user for user in args.users if user not in known]
        if unknown:
            raise UserDataError(f"no volumes and no hub user named {', '.join(unknown)}")
        data = [one for one in data if one.user in args.users]
    if args.inactive_days:
        now = datetime.now(UTC)
        data = [one for one in data if inactive(one, now, args.inactive_days)]
    return data


def inactive(data: UserData, now: datetime, days: int) -> bool:
    idle = data.inactive_for(now)
    return not data.in_hub or idle is None or idle.days >= days


def act(engine, instance: str, data: list[UserData], args) -> int:
    """Archive (then, with --remove, remove) or remove each user's volumes; go on past a failure, exit 1 after."""
    failed = []
    for one in [one for one in data if one.volumes]:
        try:
            if args.action == "archive":
                lifecycle.archive(engine, instance, one, say)
            if args.action == "remove" or args.remove:
                lifecycle.remove(engine, one, say)
        except (UserDataError, docker.errors.DockerException) as error:
            say(f"{one.user}: {error}")
            failed.append(one.user)
    done = len([one for one in data if one.volumes]) - len(failed)
    say(f"{args.action}: {done} user(s) done" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def table(data: list[UserData]) -> str:
    rows = [("USER", "IN HUB", "LAST ACTIVE", "SERVER", "VOLUMES")]
    for one in data:
        last = f"{one.last_activity:%Y-%m-%d %H:%M}" if one.last_activity else "never"
        rows.append((one.user, "yes" if one.in_hub else "deleted", last, "yes" if one.running else "no",
                     ", ".join(one.volumes) or "-"))  # fmt: skip
    return columns(rows)
