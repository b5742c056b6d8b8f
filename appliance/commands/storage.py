"""`appliance storage`: each user's home in USER_STORAGE_DIR, what it holds and its quota, the fullest first,
with the totals."""

import docker.errors

from appliance import docker_host
from appliance.commands.common import EXIT_BAD_CONFIG, columns, loaded_or_exit, say
from appliance.storage import quotas
from appliance.storage.quotas import Usage

HELP = "list users' homes in USER_STORAGE_DIR: bytes used and quota, the fullest first, with totals"


def storage_command(_args) -> int:
    settings = loaded_or_exit()
    if not settings["USER_STORAGE_DIR"]:
        say("`appliance storage` lists the homes in USER_STORAGE_DIR, which is not set: homes are Docker volumes "
            "with no quota (`appliance user-data list` lists them).")  # fmt: skip
        return EXIT_BAD_CONFIG
    try:
        homes = quotas.usage(docker_host.client(timeout=quotas.HELPER_SECONDS), settings)
    except (quotas.StorageError, docker.errors.DockerException) as error:
        say(f"`appliance storage` failed: {error}")
        return 1
    print(usage_table(homes))
    return 0


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
