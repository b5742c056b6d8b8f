"""`appliance storage migrate`: users' homes made before USER_STORAGE_DIR (plain Docker volumes, no quota) move
into it, for users whose server is stopped. Nothing is lost on the way, and nothing is removed that was not copied
and checked twice:

1. the storage helper makes the home's subvolume in USER_STORAGE_DIR, with the quota (a home larger than the quota
   stops here, with the old volume as it was);
2. the copy helper copies the old volume into it and compares them file by file;
3. it copies the old volume again, into a kept volume `<volume>.before-quotas` (the admin removes it when content);
4. only then is the old volume removed, and made again under its name, binding the new subvolume, with its labels.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import docker
import docker.errors
import requests

from appliance import docker_host
from appliance.declarations import Settings, present
from appliance.helpers import COPY_CAPABILITIES, COPY_ENTRYPOINT, COPY_SOURCE, COPY_TARGET
from appliance.helpers.copy_home import NOT_EMPTY
from appliance.kinds import byte_count
from appliance.labels import LABEL_HELPER_FOR, LABEL_INSTANCE, LABEL_SHARED, LABEL_USER
from appliance.storage import quotas

KEPT_SUFFIX = ".before-quotas"
MOVING_SUFFIX = ".moving"
COPY_SECONDS = 6 * 3600

Report = Callable[[str], None]


class MigrateError(Exception):
    """A home could not move; the message says why and what was left where."""


@dataclass(frozen=True)
class OlderHome:
    user: str
    volume: str
    labels: dict


def older_homes(engine: docker.DockerClient, settings: Settings, users: list[str]) -> list[OlderHome]:
    """The instance's user volumes that are not (yet) in USER_STORAGE_DIR, of `users` (all when empty)."""
    storage_dir = present(settings["USER_STORAGE_DIR"])
    instance = settings["APPLIANCE_INSTANCE"]
    found = []
    for volume in engine.volumes.list(filters={"label": [f"{LABEL_INSTANCE}={instance}", LABEL_USER]}):
        labels = volume.attrs.get("Labels") or {}
        ours = not labels.get(LABEL_SHARED) and not volume.name.endswith((KEPT_SUFFIX, MOVING_SUFFIX))
        if ours and not quotas.binds_into(volume.attrs, storage_dir) and (not users or labels[LABEL_USER] in users):
            found.append(OlderHome(labels[LABEL_USER], volume.name, labels))
    return sorted(found, key=lambda home: (home.user, home.volume))


def migrate(engine: docker.DockerClient, settings: Settings, users: list[str], report: Report) -> tuple[int, int]:
    """Move each older home whose server is stopped; (moved, left) counts. MigrateError stops at the first failure."""
    homes = older_homes(engine, settings, users)
    if not homes:
        report("Every home is in USER_STORAGE_DIR already: nothing to move.")
        return 0, 0
    moved = left = 0
    for number, home in enumerate(homes, start=1):
        report(f"[{number}/{len(homes)}] {home.user}: {home.volume}")
        if in_use(engine, home.volume):
            report(f"  left as it is: a container of {home.user} uses it (stop the server, then run this again)")
            left += 1
            continue
        move(engine, settings, home, report)
        moved += 1
    return moved, left


def in_use(engine: docker.DockerClient, volume: str) -> bool:
    return bool(engine.containers.list(all=True, filters={"volume": volume}))


def move(engine: docker.DockerClient, settings: Settings, home: OlderHome, report: Report) -> None:
    storage_dir, instance = present(settings["USER_STORAGE_DIR"]), settings["APPLIANCE_INSTANCE"]
    kept = home.volume + KEPT_SUFFIX
    if exists(engine, kept):
        raise MigrateError(f"{kept} exists already (from an earlier run?): look at it, remove it, and run again")
    helper_labels = {LABEL_INSTANCE: instance, LABEL_HELPER_FOR: home.user}
    quota = byte_count(present(settings["USER_DISK_QUOTA"]))
    report(f"  making its home in {storage_dir}/{home.volume}, quota {settings['USER_DISK_QUOTA']}")
    try:
        homes = present(quotas.quota_homes(settings))
        quotas.run_helper(engine, homes, helper_labels, "ensure", home.volume, str(quota), instance, home.user)
    except quotas.StorageError as error:
        raise MigrateError(f"{home.volume} was left as it was: {error}") from None
    report("  copying into it, then comparing every file")
    moving = engine.volumes.create(
        home.volume + MOVING_SUFFIX, driver="local", labels=helper_labels,
        driver_opts=quotas.bind_options(storage_dir, home.volume),
    )  # fmt: skip
    try:
        copied = copy(engine, home.volume, moving.name, helper_labels)
    finally:
        moving.remove()
    report(f"  {copied}; keeping the old files in {kept} too")
    engine.volumes.create(kept, labels=home.labels)
    copy(engine, home.volume, kept, helper_labels)
    engine.volumes.get(home.volume).remove()
    engine.volumes.create(
        home.volume, driver="local", labels=home.labels, driver_opts=quotas.bind_options(storage_dir, home.volume)
    )
    report(f"  moved: {home.volume} now binds {storage_dir}/{home.volume}; `docker volume rm {kept}` when content")


def exists(engine: docker.DockerClient, volume: str) -> bool:
    try:
        engine.volumes.get(volume)
    except docker.errors.NotFound:
        return False
    return True


def copy(engine: docker.DockerClient, source: str, target: str, labels: dict[str, str]) -> str:
    """The copy helper's run; what it copied, or MigrateError (the source untouched either way)."""
    try:
        status, stdout, stderr = docker_host.run_to_end(
            engine,
            COPY_SECONDS,
            entrypoint=COPY_ENTRYPOINT,
            user="0",
            volumes={source: {"bind": COPY_SOURCE, "mode": "ro"}, target: {"bind": COPY_TARGET, "mode": "rw"}},
            network_mode="none",
            cap_add=COPY_CAPABILITIES,
            **docker_host.helper_options(docker_host.own_image(engine), labels),
        )
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise MigrateError(f"copying {source} into {target} failed; {source} is as it was: {error}") from None
    if status == NOT_EMPTY:
        raise MigrateError(
            f"{target} is not empty: {stderr}. Look at it, empty it, and run again; {source} is as it was"
        )
    if status != 0:
        raise MigrateError(f"copying {source} into {target} failed; {source} is as it was: {stderr}")
    try:
        counted = json.loads(stdout)
    except ValueError:
        raise MigrateError(f"copying {source} into {target}: the copy helper said {stdout[:200]!r}") from None
    return f"copied {counted['entries']} files and folders ({counted['bytes']} bytes), each the same as its source"
