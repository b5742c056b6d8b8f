"""Backups of users' files with restic: every user volume of the instance (one snapshot each, tagged with the
instance, user, server and volume), the profiles' shared volumes when asked, and the hub's database dump, into
BACKUP_REPOSITORY; snapshots listed; one user's files restored into a folder of their home or into an empty or
lost volume. restic runs in short-lived helper containers (appliance.helpers.restic_volumes) that read the
volumes read-only with no network (a repository URL: the instance's network); running servers keep running.

The CLI (`appliance backup --users`, `snapshots`, `restore-user`) and the hub's backups service share this code."""

import contextlib
import fcntl
import json
import os
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import docker
import docker.errors
import requests
from escapism import escape, unescape

from appliance import docker_host, profiles
from appliance.declarations import Settings, present, value_of
from appliance.helpers import (
    RESTIC_BACKUP_CAPABILITIES,
    RESTIC_ENTRYPOINT,
    RESTIC_HUB_DUMPS,
    RESTIC_REPOSITORY,
    RESTIC_RESTORE_CAPABILITIES,
    RESTIC_VOLUMES,
)
from appliance.labels import LABEL_HELPER_FOR, LABEL_INSTANCE, LABEL_SERVER, LABEL_SHARED, LABEL_USER
from appliance.layout import BACKUP_STAGING_DIR, BACKUP_STATUS_FILE
from appliance.redaction import without_credentials
from appliance.secret_store import STORED_BY_SETTING, StoredSecretError, read_stored, secret_path
from appliance.storage.backup_kinds import Repository
from appliance.storage.lifecycle import users_with_servers

Report = Callable[[str], None]
# A run may read a whole host's users' files; past this its helper is stopped and the run fails.
RUN_SECONDS = 12 * 3600
QUICK_SECONDS = 600
HUB_DUMP_NAME = "appliance-backup.tar.gz"
HUB_USER = "(hub)"
TAG_SAFE = frozenset(string.ascii_letters + string.digits + "-_.@")
# The restic helpers this process runs now, by container id (stop_running_helpers).
RUNNING_HELPERS: set[str] = set()
# The hub container's main process's stdout: what `docker compose logs hub` shows.
HUB_LOG = "/proc/1/fd/1"


class BackupError(Exception):
    """A backup, listing or restore that did not happen, and why; users' volumes are as they were."""


@dataclass(frozen=True)
class Item:
    """One thing a backup run snapshots: a volume (or the hub's dump), where the helper sees it, its tags."""

    volume: str
    path: str
    kind: str  # user, shared or hub
    user: str = ""
    server: str = ""

    def tags(self, instance: str) -> list[str]:
        tags = [f"instance={instance}", f"kind={self.kind}", f"volume={self.volume}"]
        if self.kind == "user":
            tags += [f"user={tag_value(self.user)}", f"server={tag_value(self.server)}"]
        return tags


def tag_value(text: str) -> str:
    """A name as a restic tag holds it: a comma would split the tag in two (a user `a,b` tagged `user=a` and `b`
    would be user a's), so it and anything unusual is escaped, reversibly."""
    return escape(text, safe=TAG_SAFE, escape_char="%")


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    kind: str
    volume: str
    path: str
    user: str = ""
    server: str = ""

    @classmethod
    def from_restic(cls, found: dict) -> "Snapshot":
        tags = {key: unescape(value, escape_char="%") for key, value in
                (tag.split("=", 1) for tag in found.get("tags") or () if "=" in tag)}  # fmt: skip
        return cls(
            id=found["id"],
            time=datetime.fromisoformat(found["time"]).astimezone(UTC),
            kind=tags.get("kind", ""),
            volume=tags.get("volume", ""),
            path=(found.get("paths") or [""])[0],
            user=tags.get("user", ""),
            server=tags.get("server", ""),
        )

    @property
    def short_id(self) -> str:
        return self.id[:8]


@dataclass
class RunStatus:
    """How the last runs went, kept in DATA_DIR for the doctor, the metrics and the log."""

    last_run: float = 0.0
    last_success: float = 0.0
    duration_seconds: float = 0.0
    bytes_added: int = 0
    bytes_total: int = 0
    last_error: str = ""
    users: dict[str, dict[str, int]] = field(default_factory=dict)


# -- where restic runs -----------------------------------------------------------------------------------------


def repository_of(settings: Settings) -> Repository:
    return present(settings["BACKUP_REPOSITORY"])


def s3_keys(settings: Settings) -> dict[str, str]:
    """An s3: repository's keys, as restic reads them."""
    if not settings["BACKUP_S3_ACCESS_KEY_ID"]:
        return {}
    return {
        "AWS_ACCESS_KEY_ID": str(settings["BACKUP_S3_ACCESS_KEY_ID"]),
        "AWS_SECRET_ACCESS_KEY": str(settings["BACKUP_S3_SECRET_ACCESS_KEY"]),
    }


def password_of(settings: Settings) -> str:
    """BACKUP_PASSWORD as set, else as the hub stored it at its first start with a repository."""
    explicit = value_of(settings, "BACKUP_PASSWORD")
    if isinstance(explicit, str) and explicit:
        return explicit
    secret = STORED_BY_SETTING["BACKUP_PASSWORD"]
    try:
        stored = read_stored(secret_path(settings["DATA_DIR"], secret), secret)
    except StoredSecretError as error:
        raise BackupError(str(error)) from None
    if stored is None:
        raise BackupError("there is no BACKUP_PASSWORD yet: it is generated at the hub's first start with "
                          "BACKUP_REPOSITORY (or set it)")  # fmt: skip
    return stored


def run_restic(
    engine: docker.DockerClient,
    settings: Settings,
    action: str,
    job: dict,
    report: Report,
    volumes: dict[str, dict] | None = None,
    capabilities: list[str] | None = None,
    repository_writable: bool = True,
    seconds: int = QUICK_SECONDS,
    helper_for: str = HUB_USER,
):
    """Run the restic helper to its end; its JSON result, or BackupError with restic's words."""
    repository = repository_of(settings)
    binds = dict(volumes or {})
    if repository.host_path:
        binds[repository.host_path] = {"bind": RESTIC_REPOSITORY, "mode": "rw" if repository_writable else "ro"}
    environment = {
        "RESTIC_REPOSITORY": RESTIC_REPOSITORY if repository.host_path else repository.raw,
        "RESTIC_PASSWORD": password_of(settings),
        "RESTIC_ACTION": action,
        "RESTIC_JOB": json.dumps(job),
        "BACKUP_HOST": settings["APPLIANCE_INSTANCE"],
        "TMPDIR": "/tmp",
        **s3_keys(settings),
    }
    labels = {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"], LABEL_HELPER_FOR: helper_for}
    options = {
        **docker_host.helper_options(docker_host.own_image(engine), labels),
        "mem_limit": "1g",
        "pids_limit": 256,
        "tmpfs": {"/run": "rw,nosuid,nodev,size=1m", "/tmp": "rw,nosuid,nodev,size=512m"},
    }
    network = "none" if repository.host_path else settings["DOCKER_NETWORK"]
    with docker_host.throwaway(
        engine, entrypoint=RESTIC_ENTRYPOINT, user="0", cap_add=capabilities or [], network_mode=network,
        environment=environment, volumes=binds, **options,
    ) as helper:  # fmt: skip
        RUNNING_HELPERS.add(helper.id)
        try:
            status, output, errors = followed(helper, seconds, report)
        except requests.RequestException as error:  # past `seconds`, or Docker stopped answering: it is removed
            raise BackupError(f"the restic helper did not finish: {error}") from None
        finally:
            RUNNING_HELPERS.discard(helper.id)
    if status != 0:
        said = [line for line in errors if line.startswith("restic failed:")] or errors[-1:]
        raise BackupError(plain_error(said[-1] if said else f"the restic helper exited with {status}"))
    return json.loads(output)


def followed(helper, seconds: int, report: Report) -> tuple[int, str, list[str]]:
    """The helper's stderr reported as it comes, then its exit status, stdout and stderr lines."""
    errors = []
    for line in helper.logs(stdout=False, stderr=True, stream=True, follow=True):
        text = helper_line(line)
        errors.append(text)
        if not text.startswith("restic failed:"):
            report(f"  {text}")
    status = helper.wait(timeout=seconds)["StatusCode"]
    return status, helper.logs(stdout=True, stderr=False).decode(errors="replace").strip(), errors


def stop_running_helpers(engine: docker.DockerClient) -> list[str]:
    """Remove the helpers this process runs now (the hub stopping the backups service mid-run); their ids."""
    stopped = []
    for container_id in list(RUNNING_HELPERS):
        with contextlib.suppress(docker.errors.DockerException):
            engine.containers.get(container_id).remove(force=True)
            stopped.append(container_id)
    return stopped


def helper_line(line: bytes) -> str:
    """A line of the helper's stderr as it may be shown or logged: restic may name the repository's URL."""
    return without_credentials(line.decode(errors="replace").strip())


def plain_error(text: str) -> str:
    """restic's own words, with what an admin does about the common ones."""
    text = text.removeprefix("restic failed: ")
    if "wrong password" in text:
        return f"{text}: BACKUP_PASSWORD is not the repository's password (the one it was made with)"
    if "Is there a repository" in text or "repository does not exist" in text:
        return f"{text}: there is no repository at BACKUP_REPOSITORY yet (the first backup makes one)"
    return text


# -- what a backup holds -------------------------------------------------------------------------------------


def user_items(engine: docker.DockerClient, instance: str, users: list[str] | None = None) -> list[Item]:
    """The users' own volumes of this instance (not profiles' shared ones), by their labels."""
    found = []
    for volume in engine.volumes.list(filters={"label": [f"{LABEL_INSTANCE}={instance}", LABEL_USER]}):
        labels = volume.attrs.get("Labels") or {}
        if labels.get(LABEL_SHARED) or (users is not None and labels[LABEL_USER] not in users):
            continue
        path = f"{RESTIC_VOLUMES}/{volume.name}"
        found.append(Item(volume.name, path, "user", labels[LABEL_USER], labels.get(LABEL_SERVER, "")))
    return sorted(found, key=lambda item: (item.user, item.volume))


def shared_items(engine: docker.DockerClient, settings: Settings) -> list[Item]:
    """The profiles' shared volumes that exist."""
    names = sorted({volume.name for profile in profiles.in_use(settings) for volume in profile.volumes})
    existing = {volume.name for volume in engine.volumes.list()}
    return [Item(name, f"{RESTIC_VOLUMES}/{name}", "shared") for name in names if name in existing]


def staging_volume(engine: docker.DockerClient) -> str | None:
    """The hub's volume at BACKUP_STAGING_DIR (docker-compose.yml declares it), where its dump is written."""
    me = docker_host.own_container(engine)
    for mount in (me.attrs.get("Mounts") or ()) if me else ():
        if mount.get("Destination") == BACKUP_STAGING_DIR and mount.get("Type") == "volume":
            return mount.get("Name")
    return None


def dump_hub(settings: Settings, report: Report) -> None:
    """The hub's database and stored secrets, as `appliance backup` writes them, into the staging volume."""
    from appliance.backup import create_backup  # the database drivers, only where a dump is made

    folder = Path(BACKUP_STAGING_DIR)
    partial = folder / f"{HUB_DUMP_NAME}.partial"
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as output:
        create_backup(settings, output, report)
    os.replace(partial, folder / HUB_DUMP_NAME)


# -- backing up ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def one_run_at_a_time(settings: Settings) -> Iterator[None]:
    """Refuse a second backup of users' files while one runs (the schedule and a command, say)."""
    path = Path(settings["DATA_DIR"]) / "backups" / "users-backup.lock"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError("a backup of users' files is running already; try again once it is done") from None
        yield


def back_up(engine: docker.DockerClient, settings: Settings, report: Report) -> RunStatus:
    """Snapshot every user volume, the shared ones when asked and the hub's dump; then forget and prune by
    BACKUP_KEEP. The status (kept in DATA_DIR) says how it went; a failure raises BackupError after it is kept."""
    with one_run_at_a_time(settings):  # a run refused here leaves the running one's status alone
        started = time.time()
        status = read_status(settings)
        status.last_run = started
        write_status(settings, status)
        try:
            result = snapshot_all(engine, settings, report)
            forget_old(engine, settings, report)
        except (BackupError, docker.errors.DockerException) as error:
            status.last_error = str(error)
            write_status(settings, status)
            raise BackupError(str(error)) from None
    status.last_success, status.duration_seconds, status.last_error = time.time(), time.time() - started, ""
    status.bytes_added = sum(one["bytes_added"] for one in result["snapshots"])
    status.bytes_total = sum(one["bytes_total"] for one in result["snapshots"])
    status.users = per_user(result["snapshots"])
    write_status(settings, status)
    return status


def snapshot_all(engine: docker.DockerClient, settings: Settings, report: Report) -> dict:
    instance = settings["APPLIANCE_INSTANCE"]
    items = user_items(engine, instance)
    if settings["BACKUP_SHARED_VOLUMES"]:
        items += shared_items(engine, settings)
    volumes = {item.volume: {"bind": item.path, "mode": "ro"} for item in items}
    staging = staging_volume(engine)
    if staging is None:
        raise BackupError(f"the hub has no volume at {BACKUP_STAGING_DIR} for its database dump: use the "
                          "docker-compose.yml of this release (it declares backup-staging)")  # fmt: skip
    dump_hub(settings, report)
    items.append(Item(staging, RESTIC_HUB_DUMPS, "hub"))
    volumes[staging] = {"bind": RESTIC_HUB_DUMPS, "mode": "ro"}
    users = sorted({item.user for item in items if item.user})
    report(f"Backing up {len(users)} user(s)' {len(items) - 1} volume(s) and the hub's database to "
           f"{redacted(repository_of(settings))}")  # fmt: skip
    job = {"items": [{"path": item.path, "tags": item.tags(instance), "user": item.user} for item in items]}
    result = run_restic(
        engine, settings, "backup", job, report, volumes, RESTIC_BACKUP_CAPABILITIES, seconds=RUN_SECONDS
    )
    for snapshot, item in zip(result["snapshots"], items, strict=True):
        snapshot["user"] = item.user
    if result["repository_made"]:
        report("Made the restic repository (it was new)")
    return result


def forget_old(engine: docker.DockerClient, settings: Settings, report: Report) -> None:
    keep = dict(settings["BACKUP_KEEP"].keep)
    groups = run_restic(engine, settings, "forget", {"keep": keep}, report, seconds=RUN_SECONDS)
    removed = sum(len(group.get("remove") or ()) for group in groups)
    report(f"Retention ({settings['BACKUP_KEEP']}): forgot {removed} snapshot(s), pruned what only they held")


def summary(status: RunStatus) -> str:
    """What a run did, as the command, the schedule and the hub's log say it: users, bytes new and in all, time."""
    return (f"{len(status.users)} user(s): {status.bytes_added / 1e6:.1f} MB new, {status.bytes_total / 1e6:.1f} MB "
            f"in all, in {status.duration_seconds:.0f} s")  # fmt: skip


def tell_hub_log(line: str) -> None:
    """A line in the hub's log (`docker compose logs hub`) from a command run in the hub container: its main
    process's stdout. Elsewhere (no staging folder: not the hub container) nothing is written."""
    if os.getpid() != 1 and Path(BACKUP_STAGING_DIR).is_dir():
        with contextlib.suppress(OSError), open(HUB_LOG, "a") as log:
            log.write(f"[backups] {line}\n")


def per_user(snapshots: list[dict]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for one in snapshots:
        if one.get("user"):
            mine = found.setdefault(one["user"], {"bytes_added": 0, "bytes_total": 0})
            mine["bytes_added"] += one["bytes_added"]
            mine["bytes_total"] += one["bytes_total"]
    return found


def redacted(repository: Repository) -> str:
    """The repository as it may be logged: a URL's credentials left out."""
    return without_credentials(repository.raw)


# -- the status of the runs ------------------------------------------------------------------------------------


def status_path(settings: Settings) -> Path:
    return Path(settings["DATA_DIR"]) / BACKUP_STATUS_FILE


def read_status(settings: Settings) -> RunStatus:
    try:
        return RunStatus(**json.loads(status_path(settings).read_text()))
    except (OSError, ValueError, TypeError):
        return RunStatus()


def write_status(settings: Settings, status: RunStatus) -> None:
    path = status_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(status)))
    os.replace(partial, path)


# -- snapshots and restores ----------------------------------------------------------------------------------


def snapshots(engine: docker.DockerClient, settings: Settings, user: str | None = None) -> list[Snapshot]:
    """The instance's snapshots, oldest first; with a user, only that user's."""
    tags = [f"user={tag_value(user)}"] if user else []
    found = run_restic(engine, settings, "snapshots", {"tags": tags}, lambda _line: None, repository_writable=False)
    return sorted((Snapshot.from_restic(one) for one in found), key=lambda one: one.time)


def chosen_snapshots(all_of_user: list[Snapshot], user: str, reference: str) -> list[Snapshot]:
    """`latest`: the newest snapshot of each of the user's volumes; else the one snapshot with that ID (or prefix),
    which must be the user's."""
    mine = [one for one in all_of_user if one.kind == "user" and one.user == user]
    if reference == "latest":
        newest = {one.volume: one for one in mine}  # oldest first: the last one per volume stays
        if not newest:
            raise BackupError(f"there is no snapshot of {user}'s files")
        return sorted(newest.values(), key=lambda one: one.volume)
    matching = [one for one in mine if one.id.startswith(reference)]
    if len(matching) != 1:
        raise BackupError(f"{user} has no snapshot {reference!r}" if not matching else f"{reference!r} is ambiguous")
    return matching


def safe_folder(folder: str) -> str:
    """A folder of the home as the user names it: relative, without `..`; "" for the whole home."""
    path = PurePosixPath(folder.strip("/"))
    if folder and (".." in path.parts or str(path) in ("", ".")):
        raise BackupError(f"{folder!r} is not a folder inside the home")
    return "" if str(path) == "." else str(path)


def restore_into(
    engine: docker.DockerClient, settings: Settings, snapshot: Snapshot, report: Report, folder: str = "",
    into: str = "",
) -> dict:  # fmt: skip
    """Restore the snapshot (or one folder of it) into a new folder of the home (restored-<date> by default; a
    name taken gets -2, -3, …): nothing is ever overwritten. The user's server may run meanwhile."""
    folder = safe_folder(folder)
    if into and ("/" in into or into in (".", "..")):
        raise BackupError(f"{into!r} is not a folder name for the home (one name, no slash)")
    volume = volume_of(engine, settings, snapshot)
    into = into or f"restored-{snapshot.time:%Y-%m-%d-%H%M}"
    report(f"Restoring {snapshot.user}'s snapshot {snapshot.short_id} ({snapshot.time:%Y-%m-%d %H:%M} UTC) "
           f"{folder or 'whole'} into {into} of the volume {volume}")  # fmt: skip
    return restore(engine, settings, snapshot, volume, into, folder, report)


def restore_replacing(engine: docker.DockerClient, settings: Settings, snapshot: Snapshot, report: Report) -> dict:
    """Refill the snapshot's volume, which must be empty or lost (then it is made again, with its labels)."""
    if any(name == snapshot.user for name in users_with_servers(engine, settings["APPLIANCE_INSTANCE"])):
        raise BackupError(f"{snapshot.user} has a server; stop it first (a --replace refills the volume it uses)")
    try:
        engine.volumes.get(snapshot.volume)
    except docker.errors.NotFound:
        labels = {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"], LABEL_USER: snapshot.user,
                  LABEL_SERVER: snapshot.server}  # fmt: skip
        engine.volumes.create(snapshot.volume, labels=labels)
        report(f"Made the lost volume {snapshot.volume} again")
    report(f"Refilling {snapshot.volume} from {snapshot.user}'s snapshot {snapshot.short_id} "
           f"({snapshot.time:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
    return restore(engine, settings, snapshot, snapshot.volume, "", "", report)


def restore(
    engine: docker.DockerClient, settings: Settings, snapshot: Snapshot, volume: str, into: str, folder: str,
    report: Report,
) -> dict:  # fmt: skip
    mount = f"{RESTIC_VOLUMES}/{volume}"
    job = {
        "snapshot": snapshot.id,
        "volume_path": snapshot.path,
        "source": f"{snapshot.path}/{folder}" if folder else snapshot.path,
        "mount": mount,
        "into": into,
    }
    volumes = {volume: {"bind": mount, "mode": "rw"}}
    result = run_restic(
        engine, settings, "restore", job, report, volumes, RESTIC_RESTORE_CAPABILITIES,
        repository_writable=False, seconds=RUN_SECONDS, helper_for=snapshot.user,
    )  # fmt: skip
    report(f"Restored {result['files']} file(s)" + (f" into {result['restored_into']}" if into else ""))
    return result


def volume_of(engine: docker.DockerClient, settings: Settings, snapshot: Snapshot) -> str:
    """The volume a snapshot goes back into: its own, which must still be the user's."""
    try:
        labels = engine.volumes.get(snapshot.volume).attrs.get("Labels") or {}
    except docker.errors.NotFound:
        raise BackupError(f"the volume {snapshot.volume} is gone: restore it with --replace") from None
    if labels.get(LABEL_USER) != snapshot.user or labels.get(LABEL_INSTANCE) != settings["APPLIANCE_INSTANCE"]:
        raise BackupError(f"the volume {snapshot.volume} is not {snapshot.user}'s any more")
    return snapshot.volume


def check(engine: docker.DockerClient, settings: Settings, report: Report) -> str:
    result = run_restic(engine, settings, "check", {}, report, seconds=RUN_SECONDS)
    return " ".join(result["output"])


def reachable(engine: docker.DockerClient, settings: Settings) -> None:
    """Raise BackupError when the repository cannot be opened (gone, unreachable, or another password)."""
    run_restic(engine, settings, "reach", {}, lambda _line: None, repository_writable=False)
