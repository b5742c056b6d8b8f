"""A btrfs file system on a loop file, mounted for a while (as root, with Debian's btrfs-progs): where the quota
tests and the bench keep users' homes (USER_STORAGE_DIR)."""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def can_make_btrfs() -> str:
    """Why a btrfs cannot be made here ("" when it can)."""
    if shutil.which("mkfs.btrfs") is None:
        return "no mkfs.btrfs (Debian's btrfs-progs)"
    if subprocess.run(["id", "-u"], capture_output=True, text=True, check=False).stdout.strip() != "0":
        return "not root (a loop mount needs it)"
    return ""


@contextmanager
def mounted_btrfs(folder: Path, size: str = "400M") -> Iterator[Path]:
    """`folder`/homes: a new btrfs of `size`, quotas off as mkfs leaves them; unmounted and removed afterwards."""
    image, mount_point = folder / "homes.img", folder / "homes"
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    try:
        subprocess.run(["mkfs.btrfs", "-q", str(image)], check=True, capture_output=True)
        mount_point.mkdir()
        subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
        try:
            yield mount_point
        finally:
            subprocess.run(["umount", str(mount_point)], check=False)
            mount_point.rmdir()
    finally:
        image.unlink()
