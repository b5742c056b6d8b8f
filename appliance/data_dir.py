"""DATA_DIR must be writable, have room, and hold secrets that belong to the hub; checked before anything starts."""

import errno
import os
import shutil
from pathlib import Path

from appliance.layout import SECRETS_FOLDER

MIN_FREE_BYTES = 64 * 1024**2
PROBE_NAME = ".appliance-write-check"


class DataDirError(Exception):
    """DATA_DIR cannot be used as it is: the problem, and how to fix it."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}. {fix}")
        self.problem, self.fix = problem, fix


def check_data_dir(data_dir: str, database: Path | None) -> None:
    """Raise DataDirError unless DATA_DIR is writable, has room, and its secrets and database are the hub's."""
    root = Path(data_dir)
    fix_owner = f"docker compose run --rm --entrypoint chown hub -R {os.geteuid()}:{os.getegid()} {data_dir}"
    if root.exists() and not root.is_dir():
        raise DataDirError(f"DATA_DIR={data_dir} is not a folder", "Mount a volume or folder there.")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe_write(root)
    except OSError as error:
        raise DataDirError(f"DATA_DIR={data_dir} {unwritable_reason(error)}", fix_for(error, fix_owner)) from None
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise DataDirError(
            f"DATA_DIR={data_dir} has only {free // 1024**2} MiB free; the hub needs at least "
            f"{MIN_FREE_BYTES // 1024**2} MiB to write its database and back it up before upgrades",
            "Free some space on that volume, then start the hub again.",
        )
    for path in owned_paths(root, database):
        if path.lstat().st_uid != os.geteuid():
            raise DataDirError(
                f"DATA_DIR={data_dir}: {path} belongs to uid {path.lstat().st_uid}, not to the hub (uid "
                f"{os.geteuid()}), so someone else could read or replace the hub's secrets or database",
                f"Check who wrote it, then: {fix_owner}",
            )


def keep_private(data_dir: str, database: Path | None) -> None:
    """The secrets folder and files and the sqlite database: readable by the hub's user only (0700, 0600)."""
    for path, _, private in loose_permissions(data_dir, database):
        path.chmod(private)


def loose_permissions(data_dir: str, database: Path | None) -> list[tuple[Path, int, int]]:
    """The hub's own paths that others may read: each with its mode and the private one it should have."""
    loose = []
    for path in owned_paths(Path(data_dir), database):
        private = 0o700 if path.is_dir() else 0o600
        if path.stat().st_mode & 0o777 != private:
            loose.append((path, path.stat().st_mode & 0o777, private))
    return loose


def probe_write(root: Path) -> None:
    """Write, sync and remove a small file: fails on read-only, full or foreign-owned storage."""
    probe = root / PROBE_NAME
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(b"\0" * 65536)
            file.flush()
            os.fsync(file.fileno())
    finally:
        probe.unlink(missing_ok=True)


def unwritable_reason(error: OSError) -> str:
    reasons = {
        errno.EROFS: "is mounted read-only",
        errno.ENOSPC: "is full",
        errno.EDQUOT: "is over its disk quota",
        errno.EACCES: f"is not writable by the hub (uid {os.geteuid()})",
        errno.EPERM: f"is not writable by the hub (uid {os.geteuid()})",
    }
    return reasons.get(error.errno or 0, f"cannot be written ({error.strerror})")


def fix_for(error: OSError, fix_owner: str) -> str:
    if error.errno == errno.EROFS:
        return "Mount it read-write (remove `:ro` from the volume), then start the hub again."
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "Free some space on that volume, then start the hub again."
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"Give it to the hub: {fix_owner}"
    return "Check the volume mounted there."


def owned_paths(root: Path, database: Path | None) -> list[Path]:
    """The paths that must be the hub's own: the secrets folder and files, and the sqlite database."""
    secrets = root / SECRETS_FOLDER
    paths = [secrets, *sorted(secrets.iterdir())] if secrets.is_dir() else []
    return [*paths, *([database] if database and database.exists() else [])]
