"""Users' data over time: which volumes each user of this instance has, with their last activity in the hub;
archiving a user's volumes into the instance's archive volume (checked before anything is removed); removing them.
Nothing here removes data unless asked: `appliance user-data` and DELETED_USER_DATA are the only callers."""

import json
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import docker
import docker.errors
from escapism import escape

from appliance import docker_host
from appliance.helpers import ARCHIVE_ENTRYPOINT, ARCHIVE_SOURCES, ARCHIVE_TARGET
from appliance.labels import LABEL_ARCHIVES, LABEL_HELPER_FOR, LABEL_INSTANCE, LABEL_SHARED, LABEL_USER

Report = Callable[[str], None]
# A day's worth of archiving: past it the helper is stopped and nothing is removed.
ARCHIVE_SECONDS = 24 * 3600


class UserDataError(Exception):
    """An archive or a removal that did not happen, and why; the user's volumes are as they were."""


@dataclass(frozen=True)
class UserData:
    user: str
    volumes: tuple[str, ...]
    running: bool  # a server (container) of the user exists: their volumes are in use
    in_hub: bool  # False for a user the hub no longer has (deleted)
    last_activity: datetime | None

    def inactive_for(self, now: datetime) -> timedelta | None:
        return now - self.last_activity if self.last_activity else None


@dataclass(frozen=True)
class Archived:
    archive: str
    entries: int
    bytes: int
    archive_bytes: int


def archive_volume(instance: str) -> str:
    return f"{instance}-user-archives"


def inventory(engine: docker.DockerClient, instance: str, hub_users: dict[str, datetime | None]) -> list[UserData]:
    """Every user with a volume of this instance, and every user of the hub, sorted by name."""
    volumes, running = volumes_by_user(engine, instance), users_with_servers(engine, instance)
    return [
        UserData(user, tuple(sorted(volumes.get(user, ()))), user in running, user in hub_users, hub_users.get(user))
        for user in sorted(set(volumes) | set(hub_users))
    ]


def volumes_by_user(engine: docker.DockerClient, instance: str) -> dict[str, list[str]]:
    """Users' own volumes (not profiles' shared ones, nor the archives), by the user label."""
    found: dict[str, list[str]] = defaultdict(list)
    for volume in engine.volumes.list(filters={"label": [f"{LABEL_INSTANCE}={instance}", LABEL_USER]}):
        labels = volume.attrs.get("Labels") or {}
        if not labels.get(LABEL_SHARED):
            found[labels[LABEL_USER]].append(volume.name)
    return found


def users_with_servers(engine: docker.DockerClient, instance: str) -> set[str]:
    labels = {"label": [f"{LABEL_INSTANCE}={instance}", LABEL_USER]}
    return {container.labels[LABEL_USER] for container in engine.containers.list(all=True, filters=labels)}


def archive(engine: docker.DockerClient, instance: str, data: UserData, report: Report) -> Archived:
    """Archive the user's volumes into the instance's archive volume, in a helper that reads them read-only with
    no network, and checks the archive back; raise UserDataError when it did not."""
    refuse_while_running(data, "archived")
    ensure_archive_volume(engine, instance)
    name = f"{escape(data.user, set(string.ascii_lowercase + string.digits), escape_char='-').lower()}-"
    name += f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz"
    report(f"Archiving {data.user}'s volumes {', '.join(data.volumes)} into {archive_volume(instance)}/{name}")
    binds = {volume: {"bind": f"{ARCHIVE_SOURCES}/{volume}", "mode": "ro"} for volume in data.volumes}
    binds[archive_volume(instance)] = {"bind": ARCHIVE_TARGET, "mode": "rw"}
    labels = {LABEL_INSTANCE: instance, LABEL_HELPER_FOR: data.user}
    options = {**docker_host.helper_options(docker_host.own_image(engine), labels), "mem_limit": "256m"}
    with docker_host.throwaway(
        engine, entrypoint=ARCHIVE_ENTRYPOINT, user="0", cap_add=["DAC_READ_SEARCH"], network_mode="none",
        environment={"ARCHIVE_NAME": name}, volumes=binds, **options,
    ) as helper:  # fmt: skip
        for line in helper.logs(stdout=False, stderr=True, stream=True, follow=True):
            report(f"  {data.user}: {line.decode(errors='replace').strip()}")
        status = helper.wait(timeout=ARCHIVE_SECONDS)["StatusCode"]
        output = helper.logs(stdout=True, stderr=False).decode(errors="replace").strip()
    if status != 0:
        raise UserDataError(f"archiving {data.user}'s volumes failed; they are kept as they were")
    archived = Archived(**json.loads(output))
    report(f"Archived {data.user}: {archived.entries} entries, {archived.bytes / 1e6:.1f} MB, "
           f"{archived.archive_bytes / 1e6:.1f} MB compressed, checked")  # fmt: skip
    return archived


def ensure_archive_volume(engine: docker.DockerClient, instance: str) -> None:
    try:
        engine.volumes.get(archive_volume(instance))
    except docker.errors.NotFound:
        engine.volumes.create(archive_volume(instance), labels={LABEL_INSTANCE: instance, LABEL_ARCHIVES: "true"})


def remove(engine: docker.DockerClient, data: UserData, report: Report) -> None:
    """Remove the user's volumes; never while a server of theirs exists."""
    refuse_while_running(data, "removed")
    for volume in data.volumes:
        engine.volumes.get(volume).remove()
        report(f"Removed {data.user}'s volume {volume}")


def refuse_while_running(data: UserData, what: str) -> None:
    if data.running:
        raise UserDataError(
            f"{data.user} has a server, so their volumes are in use and not {what}: stop it first "
            "(the hub's admin page, or `appliance stop-servers`)"
        )
