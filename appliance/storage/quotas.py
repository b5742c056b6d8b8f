"""Per-user disk quotas (USER_DISK_QUOTA): each user volume binds its own btrfs subvolume of the homes' folder,
limited by a qgroup. That folder is USER_STORAGE_DIR in docker mode; in swarm mode it is SWARM_HOMES once
USER_DISK_QUOTA is set (the appliance does not turn quotas on in a shared storage unasked). The storage helper
(appliance.helpers.user_storage) alone holds the capability that btrfs's quotas need; this module runs it, from the
hub, the spawner and the `appliance` command.

The volumes keep their names and labels, so backups, the lifecycle commands and the instance rule apply unchanged.
"""

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import requests
from docker.types import Mount

from appliance import docker_host
from appliance.declarations import Outcome, Problem, Settings, StartRefused, failed, passed, present, warned
from appliance.helpers import STORAGE_CAPABILITIES, STORAGE_ENTRYPOINT, STORAGE_MOUNT
from appliance.helpers.user_storage import NOT_BTRFS
from appliance.labels import LABEL_INSTANCE, LABEL_SHARED, LABEL_USER
from appliance.layout import USER_STORAGE_USAGE_FILE

HELPER_SECONDS = 60
SUBVOLUME_TOP_INODE = 256
FULL_PERCENT = 90
NEEDS = (
    "a btrfs file system (a disk, a partition, or a loop file for a trial: docs/storage.md), mounted on the host; "
    "the appliance turns its quotas on"
)


class StorageError(Exception):
    """The storage helper failed; the message says what it said."""


@dataclass(frozen=True)
class QuotaHomes:
    """The folder of homes with quotas, and the setting that names it (for messages)."""

    setting: str
    folder: str

    def __str__(self) -> str:
        return f"{self.setting}={self.folder}"


def quota_homes(settings: Settings) -> QuotaHomes | None:
    """USER_STORAGE_DIR; in swarm mode SWARM_HOMES when USER_DISK_QUOTA is set; else None (no quotas)."""
    if settings["USER_STORAGE_DIR"]:
        return QuotaHomes("USER_STORAGE_DIR", settings["USER_STORAGE_DIR"])
    if settings["SPAWNER_MODE"] == "swarm" and settings["SWARM_HOMES"] and settings["USER_DISK_QUOTA"]:
        return QuotaHomes("SWARM_HOMES", settings["SWARM_HOMES"])
    return None


def run_helper(engine: docker.DockerClient, homes: QuotaHomes, labels: dict[str, str], *args: str) -> dict:
    """The storage helper's JSON answer; StorageError with its message when it fails."""
    try:
        status, stdout, stderr = docker_host.run_to_end(
            engine,
            HELPER_SECONDS,
            entrypoint=STORAGE_ENTRYPOINT,
            command=list(args),
            user="0",
            # A bind mount, not a volume bind: Docker refuses a folder that does not exist instead of making it.
            mounts=[Mount(STORAGE_MOUNT, homes.folder, type="bind")],
            network_mode="none",
            cap_add=STORAGE_CAPABILITIES,
            **docker_host.helper_options(docker_host.own_image(engine), labels),
        )
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise StorageError(f"{homes}: the storage helper could not run: {error}") from None
    if status == NOT_BTRFS:
        raise StorageError(f"{homes}: {stderr}; quotas need {NEEDS}")
    if status != 0:
        raise StorageError(f"{homes}: {stderr or f'the storage helper exited {status}'}")
    try:
        return json.loads(stdout)
    except ValueError:
        raise StorageError(f"{homes}: the storage helper said {stdout[:200]!r}") from None


def prepare_user_storage(settings: Settings, say) -> None:
    """At start: the homes' folder must be btrfs (quotas are turned on when they are off); else the hub does not
    start, naming the setting and what it needs."""
    homes = quota_homes(settings)
    if homes is None:
        return
    try:
        found = run_helper(docker_host.client(), homes, {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}, "check")
    except StorageError as error:
        raise StartRefused(str(error)) from None
    if found["quotas"] == "turned on":
        say(f"{homes}: turned btrfs quotas on")


def check_user_storage(settings: Settings) -> Outcome:
    """The doctor, where homes have quotas: their folder is btrfs with quotas on; the homes near their quota."""
    homes_dir = present(quota_homes(settings))
    engine = docker_host.client()
    try:
        run_helper(engine, homes_dir, {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}, "check")
        homes = usage(engine, settings)
    except (StorageError, docker.errors.DockerException) as error:
        return failed(str(error), f"make {homes_dir.setting} {NEEDS}")
    full = [home for home in homes if (home.percent or 0) >= FULL_PERCENT]
    summary = f"{homes_dir.folder} is btrfs with quotas on; {len(homes)} home(s)"
    if full:
        names = ", ".join(f"{home.user} ({home.percent} %)" for home in full)
        return warned(f"{summary}; at {FULL_PERCENT} % of the quota or more: {names}",
                      "`appliance storage` lists them; raise USER_DISK_QUOTA or ask them to free space")  # fmt: skip
    return passed(summary)


def storage_problems(values: Settings, chosen: frozenset[str]) -> list[Problem]:
    if values["SPAWNER_MODE"] == "swarm" and values["USER_DISK_QUOTA"] and not values["SWARM_HOMES"]:
        return [Problem("USER_DISK_QUOTA", "set", "needs SWARM_HOMES in swarm mode (the homes it limits)",
                        "set SWARM_HOMES to a folder on btrfs, or unset USER_DISK_QUOTA")]  # fmt: skip
    if values["SPAWNER_MODE"] != "swarm" and values["USER_STORAGE_DIR"] is None and "USER_DISK_QUOTA" in chosen:
        return [Problem("USER_DISK_QUOTA", "set", "means nothing without USER_STORAGE_DIR", "set USER_STORAGE_DIR")]
    if values["USER_STORAGE_DIR"] and values["VOLUME_DRIVER"]:
        return [Problem("USER_STORAGE_DIR", str(values["USER_STORAGE_DIR"]), "cannot be used with VOLUME_DRIVER",
                        "set one of them")]  # fmt: skip
    return []


def is_subvolume(folder: str) -> bool:
    """Whether a folder on btrfs is a subvolume's top, whose inode is always 256 (BTRFS_FIRST_FREE_OBJECTID)."""
    return os.stat(folder).st_ino == SUBVOLUME_TOP_INODE


def bind_options(storage_dir: str, volume: str) -> dict[str, str]:
    """The local driver's options of a user volume that binds its folder (its subvolume) in USER_STORAGE_DIR."""
    return {"type": "none", "o": "bind", "device": f"{storage_dir.rstrip('/')}/{volume}"}


def binds_into(volume_attrs: dict, storage_dir: str) -> bool:
    """Whether an existing volume is one of USER_STORAGE_DIR's folders (else: an older Docker volume, no quota)."""
    options = volume_attrs.get("Options") or {}
    return options == bind_options(storage_dir, volume_attrs.get("Name", ""))


@dataclass(frozen=True)
class Usage:
    user: str
    volume: str
    used: int | None
    limit: int | None

    @property
    def percent(self) -> int | None:
        return round(100 * self.used / self.limit) if self.used is not None and self.limit else None


def usage(engine: docker.DockerClient, settings: Settings) -> list[Usage]:
    """Each user home of the instance in the homes' folder: bytes used and its quota, most used first. A home is
    known by its volume's labels on this engine, or by the owner the storage helper recorded in its subvolume (a
    swarm worker's volume, which this engine does not see)."""
    homes_dir = present(quota_homes(settings))
    instance = settings["APPLIANCE_INSTANCE"]
    by_volume = run_helper(engine, homes_dir, {LABEL_INSTANCE: instance}, "usage")
    owners = {
        name: numbers["user"]
        for name, numbers in by_volume.items()
        if numbers.get("user") and numbers.get("instance") == instance
    }
    for volume in engine.volumes.list(filters={"label": [f"{LABEL_INSTANCE}={instance}", LABEL_USER]}):
        labels = volume.attrs.get("Labels") or {}
        if not labels.get(LABEL_SHARED) and binds_into(volume.attrs, homes_dir.folder):
            owners[volume.name] = labels[LABEL_USER]
    found = [
        Usage(user, name, (by_volume.get(name) or {}).get("used"), (by_volume.get(name) or {}).get("limit"))
        for name, user in owners.items()
    ]
    homes = sorted(found, key=lambda one: (-(one.used or 0), one.user, one.volume))
    record_usage(settings, homes)
    return homes


def usage_path(settings: Settings) -> Path:
    return Path(settings["DATA_DIR"]) / USER_STORAGE_USAGE_FILE


def record_usage(settings: Settings, homes: list[Usage]) -> None:
    """The last reading, for the hub's metrics (whoever read it: the hub, a command, the doctor). Where DATA_DIR
    cannot take it, the metrics stay at the last reading, whose time they show."""
    path = usage_path(settings)
    partial = path.with_name(path.name + ".partial")
    with contextlib.suppress(OSError):
        partial.write_text(json.dumps({"read_at": time.time(), "homes": [asdict(home) for home in homes]}))
        os.replace(partial, path)


def recorded_usage(settings: Settings) -> tuple[float, list[Usage]]:
    """When the homes were last read, and what they held then; (0, []) before the first reading."""
    try:
        recorded = json.loads(usage_path(settings).read_text())
        return recorded["read_at"], [Usage(**home) for home in recorded["homes"]]
    except (OSError, ValueError, TypeError, KeyError):
        return 0.0, []
