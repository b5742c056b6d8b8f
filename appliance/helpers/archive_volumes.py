"""Run with a user's volumes mounted read-only at /volumes/<volume> and the instance's archive volume at /archives:
writes /archives/$ARCHIVE_NAME (a .tar.gz of /volumes, owners and modes kept), reads it back to check that every
entry is there with its size, and prints a JSON summary. Exits 1 with the reason on stderr, leaving no archive,
when anything cannot be read or does not check out."""

import json
import os
import re
import sys
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

from appliance.helpers import ARCHIVE_SOURCES, ARCHIVE_TARGET

ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.tar\.gz")
PROGRESS_SECONDS = 5


class ArchiveError(Exception):
    pass


def archive(sources: Path, target: Path) -> dict:
    """Write and check the archive; return what it holds."""
    partial = target.with_name(target.name + ".partial")
    try:
        written = write(sources, partial)
        check(partial, written)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "archive": target.name,
        "entries": len(written),
        "bytes": sum(written.values()),
        "archive_bytes": target.stat().st_size,
    }


def write(sources: Path, partial: Path) -> dict[str, int]:
    """Every entry of the volumes, by its name in the archive, with its size (0 for all but regular files)."""
    written: dict[str, int] = {}
    paths = entries(sources)
    progress = Progress(sum(path.lstat().st_size for path in paths if path.is_file() and not path.is_symlink()))
    with tarfile.open(partial, "w:gz") as tar:
        for path in paths:
            name = path.relative_to(sources.parent).as_posix()
            info = tar.gettarinfo(path, arcname=name)
            if info is None:  # a socket: nothing to keep
                continue
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, Counted(data, progress))
            else:
                tar.addfile(info)
            written[name] = info.size if info.isreg() else 0
    progress.say()
    return written


class Counted:
    """A file read into the archive, its bytes counted as they are read (a large file shows progress too)."""

    def __init__(self, data: BinaryIO, progress: "Progress"):
        self.data, self.progress = data, progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.data.read(size)
        self.progress.add(len(chunk))
        return chunk


class Progress:
    """A line on stderr every few seconds: how much of the volumes' bytes are in the archive."""

    def __init__(self, total: int):
        self.total, self.done, self.said = total, 0, time.monotonic()

    def add(self, size: int) -> None:
        self.done += size
        if time.monotonic() - self.said >= PROGRESS_SECONDS:
            self.say()

    def say(self) -> None:
        share = self.done / self.total if self.total else 1
        print(f"{self.done / 1e6:.1f} of {self.total / 1e6:.1f} MB ({share:.0%})", file=sys.stderr, flush=True)
        self.said = time.monotonic()


def entries(sources: Path) -> list[Path]:
    """The folder and everything in it, parents first; symlinks as links, never followed. A folder that cannot be
    read fails the archive (a silent skip would leave files out)."""

    def fail(error: OSError) -> None:
        raise error

    found = [sources]
    for folder, folders, files in os.walk(sources, onerror=fail):
        found += [Path(folder, name) for name in folders + files]
    return sorted(found)


def check(partial: Path, written: dict[str, int]) -> None:
    """The archive reads back whole, with every entry written and each file's size."""
    with tarfile.open(partial, "r:gz") as tar:
        found = {member.name: member.size if member.isreg() else 0 for member in tar}
    if found != written:
        missing = sorted(set(written) - set(found))[:5]
        raise ArchiveError(f"the archive does not hold what was written (first missing: {missing})")


def main() -> int:
    name = os.environ.get("ARCHIVE_NAME", "")
    if not ARCHIVE_NAME.fullmatch(name):
        print(f"ARCHIVE_NAME {name!r} is not a file name ending in .tar.gz", file=sys.stderr)
        return 1
    target = Path(ARCHIVE_TARGET) / name
    if target.exists():
        print(f"{name} exists already in the archive volume; it is not overwritten", file=sys.stderr)
        return 1
    try:
        print(json.dumps(archive(Path(ARCHIVE_SOURCES), target)))
    except (OSError, tarfile.TarError, ArchiveError) as error:
        print(f"archiving failed, nothing was written: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
