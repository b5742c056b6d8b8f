"""Run by `appliance storage migrate`, with no network, the source volume read-only at COPY_SOURCE and the target
(empty) at COPY_TARGET: copy every file with its owner, mode and times (CHOWN, DAC_OVERRIDE, FOWNER), then compare
both trees file by file (type, owner, mode, size, SHA-256, link target). Prints one JSON line with what was copied;
a target that is not empty, a failed copy or any difference is an error on stderr and a non-zero exit."""

import hashlib
import json
import os
import stat
import subprocess
import sys

from appliance.helpers import COPY_SOURCE, COPY_TARGET

NOT_EMPTY = 3
CHUNK = 2**20


def entry(path: str, relative: str) -> tuple:
    info = os.lstat(path)
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISREG(info.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as data:
            while chunk := data.read(CHUNK):
                digest.update(chunk)
        content = digest.hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        content = os.readlink(path)
    else:
        content = ""
    return (relative, kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_size if content else 0,
            content)  # fmt: skip


def manifest(root: str) -> list[tuple]:
    """Every entry under root (root itself as "."), sorted."""
    found = [entry(root, ".")]
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            found.append(entry(path, os.path.relpath(path, root)))
    return sorted(found)


def main() -> int:
    if os.listdir(COPY_TARGET):
        print(f"the target is not empty (a copy from an earlier attempt?): {sorted(os.listdir(COPY_TARGET))[:5]}",
              file=sys.stderr)  # fmt: skip
        return NOT_EMPTY
    copied = subprocess.run(["cp", "-a", f"{COPY_SOURCE}/.", f"{COPY_TARGET}/"], capture_output=True, text=True)
    if copied.returncode != 0:
        print(f"the copy failed: {copied.stderr.strip()[:2000]}", file=sys.stderr)
        return 1
    source, target = manifest(COPY_SOURCE), manifest(COPY_TARGET)
    if source != target:
        differing = sorted({one[0] for one in set(source) ^ set(target)})
        print(f"the copy differs from its source in {len(differing)} entries: {differing[:10]}", file=sys.stderr)
        return 1
    print(json.dumps({"entries": len(source), "bytes": sum(one[5] for one in source if one[1] == stat.S_IFREG)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
