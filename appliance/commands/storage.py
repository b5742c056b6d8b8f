"""`appliance storage [list]`: each user's home in USER_STORAGE_DIR, what it holds and its quota, the fullest first,
with the totals. `appliance storage migrate [USER…]`: homes made before USER_STORAGE_DIR move into it
(appliance.storage.migrate_homes)."""

import docker.errors

from appliance import docker_host
from appliance.commands.common import EXIT_BAD_CONFIG, columns, loaded_or_exit, say
from appliance.storage import migrate_homes, quotas
from appliance.storage.quotas import Usage

HELP = (
    "list users' homes in USER_STORAGE_DIR (bytes used and quota, the fullest first, with totals), or migrate homes "
    "made before it into it"
)


def add_arguments(parser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "migrate"), default="list")
    parser.add_argument("users", nargs="*", help="migrate: only these users' homes (all when none)")


def storage_command(args) -> int:
    settings = loaded_or_exit()
    if quotas.quota_homes(settings) is None:
        say(f"`appliance storage {args.action}` works where homes have quotas (USER_STORAGE_DIR; SWARM_HOMES "
            "with USER_DISK_QUOTA in swarm mode), and they have none here (`appliance user-data list` lists "
            "homes).")  # fmt: skip
        return EXIT_BAD_CONFIG
    if args.action == "migrate" and not settings["USER_STORAGE_DIR"]:
        say("`appliance storage migrate` moves Docker volumes into USER_STORAGE_DIR (docker mode); in swarm mode, "
            "docs/storage.md says how to make an older folder in SWARM_HOMES a subvolume.")  # fmt: skip
        return EXIT_BAD_CONFIG
    if args.users and args.action != "migrate":
        say("`appliance storage list` takes no user names")
        return EXIT_BAD_CONFIG
    try:
        if args.action == "migrate":
            return migrate_command(settings, args.users)
        homes = quotas.usage(docker_host.client(timeout=quotas.HELPER_SECONDS), settings)
    except (quotas.StorageError, docker.errors.DockerException) as error:
        say(f"`appliance storage {args.action}` failed: {error}")
        return 1
    print(usage_table(homes))
    return 0


def migrate_command(settings, users: list[str]) -> int:
    try:
        moved, left = migrate_homes.migrate(
            docker_host.client(timeout=migrate_homes.COPY_SECONDS), settings, users, progress
        )
    except migrate_homes.MigrateError as error:
        say(f"`appliance storage migrate` stopped: {error}")
        return 1
    say(f"Moved {moved} home(s) into {settings['USER_STORAGE_DIR']}; left {left} whose server is running.")
    return 0 if not left else 1


def progress(line: str) -> None:
    print(line, flush=True)


def usage_table(homes: list[Usage]) -> str:
    rows = [("USER", "VOLUME", "USED", "QUOTA", "USE%")]
    rows += [(home.user, home.volume, size(home.used), size(home.limit), percent(home.percent)) for home in homes]
    used = sum(home.used or 0 for home in homes)
    limits = sum(home.limit or 0 for home in homes)
    rows.append((f"total ({len(homes)} homes)", "", size(used), size(limits), ""))
    return columns(rows)


def size(count: int | None) -> str:
    if count is None:
        return "-"
    for unit, power in (("G", 3), ("M", 2), ("K", 1)):
        if count >= 1024**power:
            return f"{count / 1024**power:.1f}{unit}"
    return f"{count}B"


def percent(value: int | None) -> str:
    return "-" if value is None else f"{value}%"
