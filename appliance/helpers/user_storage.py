"""Run in USER_STORAGE_DIR (mounted at STORAGE_MOUNT) with CAP_SYS_ADMIN, which btrfs's quota ioctls need, no
network and nothing else mounted: the only place the appliance holds that capability.

    check                 the folder is a btrfs file system; quotas are turned on when they are off
    ensure VOLUME BYTES INSTANCE USER
                          VOLUME's subvolume exists (made when missing), is limited to BYTES and records whose it
                          is; where the kernel shows its use and limit (sysfs, readable by anyone)
    usage                 each subvolume's bytes used and limit, and whose it is, as JSON

Each prints one JSON object on stdout; a failure says why on stderr and exits non-zero. Names are checked here
too, so that whoever runs the helper cannot reach outside the folder.
"""

import json
import os
import re
import subprocess
import sys

from appliance.helpers import STORAGE_MOUNT

VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NOT_BTRFS = 3
QUOTAS_OFF = "quotas not enabled"
# Whose home a subvolume is ({"instance", "user"}), where only CAP_SYS_ADMIN reads or writes it: not its user. Swarm's
# workers keep the volumes (and their labels) of the homes they ran, so this is how the manager knows each home.
OWNER_ATTRIBUTE = "trusted.jupyterhub-appliance.owner"


class StorageHelperError(Exception):
    """What went wrong, for the hub to show."""


def btrfs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["btrfs", *args], capture_output=True, text=True, check=False)


def file_system_type(path: str) -> str:
    """The type of the file system mounted at `path`, from this container's mount table."""
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return ""


def check() -> dict:
    kind = file_system_type(STORAGE_MOUNT)
    if kind != "btrfs":
        print(f"the folder is on {kind or 'an unknown file system'}, not btrfs", file=sys.stderr)
        sys.exit(NOT_BTRFS)
    shown = btrfs("qgroup", "show", STORAGE_MOUNT)
    if shown.returncode == 0:
        return {"file_system": kind, "quotas": "on"}
    if QUOTAS_OFF not in shown.stderr.lower():
        raise StorageHelperError(f"btrfs qgroup show: {shown.stderr.strip()}")
    enabled = btrfs("quota", "enable", STORAGE_MOUNT)
    if enabled.returncode != 0:
        raise StorageHelperError(f"btrfs quota enable: {enabled.stderr.strip()}")
    return {"file_system": kind, "quotas": "turned on"}


def ensure(volume: str, limit: int, instance: str, user: str) -> dict:
    if not VOLUME_NAME.fullmatch(volume):
        raise StorageHelperError(f"{volume!r} is not a volume name")
    path = os.path.join(STORAGE_MOUNT, volume)
    created = False
    if not os.path.exists(path):
        made = btrfs("subvolume", "create", path)
        if made.returncode != 0:
            raise StorageHelperError(f"btrfs subvolume create {volume}: {made.stderr.strip()}")
        created = True
    elif btrfs("subvolume", "show", path).returncode != 0:
        raise StorageHelperError(f"{volume} is a folder, not a btrfs subvolume: it cannot have a quota of its own")
    limited = btrfs("qgroup", "limit", str(limit), path)
    if limited.returncode != 0:
        raise StorageHelperError(f"btrfs qgroup limit {limit} {volume}: {limited.stderr.strip()}")
    try:
        os.setxattr(path, OWNER_ATTRIBUTE, json.dumps({"instance": instance, "user": user}).encode())
    except OSError as error:
        raise StorageHelperError(f"recording whose home {volume} is: {error}") from None
    return {"volume": volume, "created": created, "limit": limit, "qgroup": qgroup_in_sysfs(path)}


def qgroup_in_sysfs(path: str) -> str:
    """/sys/fs/btrfs/FSID/qgroups/0_ID, whose `referenced` and `max_referenced` are the subvolume's use and limit."""
    rootid = btrfs("inspect-internal", "rootid", path)
    shown = btrfs("filesystem", "show", STORAGE_MOUNT)
    fsid = re.search(r"uuid: ([0-9a-f-]+)", shown.stdout)
    if rootid.returncode != 0 or not rootid.stdout.strip().isdigit() or not fsid:
        raise StorageHelperError(f"cannot tell the qgroup of {path}: {rootid.stderr.strip()} {shown.stderr.strip()}")
    return f"/sys/fs/btrfs/{fsid[1]}/qgroups/0_{rootid.stdout.strip()}"


def usage() -> dict:
    """{subvolume name: {"used": bytes referenced, "limit": bytes or None, "instance", "user"}} for the folder's
    direct subvolumes; instance and user None where the subvolume has no owner recorded."""
    ids = subvolume_ids()
    shown = btrfs("qgroup", "show", "-re", "--raw", STORAGE_MOUNT)
    if shown.returncode != 0:
        raise StorageHelperError(f"btrfs qgroup show: {shown.stderr.strip()}")
    by_id = {}
    for line in shown.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].startswith("0/") and fields[1].isdigit():
            limit = fields[3]
            by_id[fields[0].split("/")[1]] = {"used": int(fields[1]), "limit": int(limit) if limit.isdigit() else None}
    return {name: {**by_id.get(ident, {"used": None, "limit": None}), **owner_of(name)} for name, ident in ids.items()}


def owner_of(volume: str) -> dict:
    try:
        owner = json.loads(os.getxattr(os.path.join(STORAGE_MOUNT, volume), OWNER_ATTRIBUTE))
    except (OSError, ValueError):
        return {"instance": None, "user": None}
    return {"instance": owner.get("instance"), "user": owner.get("user")}


def subvolume_ids() -> dict[str, str]:
    listed = btrfs("subvolume", "list", "-o", STORAGE_MOUNT)
    if listed.returncode != 0:
        raise StorageHelperError(f"btrfs subvolume list: {listed.stderr.strip()}")
    ids = {}
    for line in listed.stdout.splitlines():
        match = re.match(r"ID (\d+) .* path (.+)$", line)
        if match:  # the path is from the file system's top: USER_STORAGE_DIR may be a folder within it
            ids[match[2].rsplit("/", 1)[-1]] = match[1]
    return ids


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["check"] and len(argv) == 1:
            answer = check()
        elif argv[:1] == ["ensure"] and len(argv) == 5 and argv[2].isdigit():
            answer = ensure(argv[1], int(argv[2]), argv[3], argv[4])
        elif argv[:1] == ["usage"] and len(argv) == 1:
            answer = usage()
        else:
            print("usage: check | ensure VOLUME BYTES INSTANCE USER | usage", file=sys.stderr)
            return 2
    except StorageHelperError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
