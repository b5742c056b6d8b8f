"""Runs restic on the instance's volumes, in a short-lived helper container of the appliance's image.

The work comes in the environment: RESTIC_REPOSITORY and RESTIC_PASSWORD (read by restic itself), BACKUP_HOST
(the instance: restic's host of every snapshot), RESTIC_ACTION, and RESTIC_JOB (JSON: what the action needs).
Progress goes to stderr, one line every few seconds; the result is one JSON document on stdout. A failure exits
1 with restic's own words on stderr, and leaves the volumes as they were (a restore writes into a partial
folder first and moves it into place only when restic succeeded).

    backup     job: {"items": [{"path": "/volumes/NAME", "tags": [...]}...]}; the repository is made when it is
               new; one snapshot per item
    snapshots  job: {"tags": [...]} (optional filter): the instance's snapshots
    restore    job: {"snapshot": ID, "volume_path": "/volumes/NAME", "source": "/volumes/NAME" or a folder in
               it, "mount": "/restore/NAME", "into": "restored-DATE" or "" to refill the (empty) volume}
    forget     job: {"keep": {"daily": 7, ...}}: forget by retention, per volume, and prune
    check      job: {}: restic check
    init       job: {}: make the repository when it is new
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROGRESS_SECONDS = 5
# restic runs at once, one per volume: as many as the machine has cores, up to 4.
PARALLEL_BACKUPS = max(1, min(4, os.cpu_count() or 1))
# restic's words when there is no repository at the place (0.14 and later).
NO_REPOSITORY = ("Is there a repository at the following location?", "repository does not exist")
PARTIAL = ".restore-partial"


class ResticError(Exception):
    pass


def restic(*args: str, progress: bool = False) -> str:
    """Run restic (no cache: a throwaway container keeps none); return its stdout, or raise with its stderr.
    With progress, its JSON status lines become a line on stderr every few seconds."""
    command = ["restic", "--no-cache", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        output = []
        said = time.monotonic()
        for line in process.stdout:
            output.append(line)
            if progress and time.monotonic() - said >= PROGRESS_SECONDS and say_status(line):
                said = time.monotonic()
        errors = process.stderr.read()
    if process.returncode != 0:
        raise ResticError(errors.strip() or f"restic {args[0]} exited with {process.returncode}")
    return "".join(output)


def say_status(line: str) -> bool:
    try:
        status = json.loads(line)
    except ValueError:
        return False
    if status.get("message_type") != "status":
        return False
    done, total = status.get("bytes_done", 0), status.get("total_bytes", 0)
    share = status.get("percent_done", 0)
    print(f"{done / 1e6:.1f} of {total / 1e6:.1f} MB ({share:.0%})", file=sys.stderr, flush=True)
    return True


def ensure_repository() -> bool:
    """Make the repository when there is none; True when it was made now. A wrong password raises."""
    try:
        restic("cat", "config")
        return False
    except ResticError as error:
        if not any(words in str(error) for words in NO_REPOSITORY):
            raise
    restic("init")
    return True


def backup(job: dict, host: str) -> dict:
    """One snapshot per item, PARALLEL_BACKUPS at a time (each restic run spends about half a second of CPU
    deriving the key before it reads anything); the snapshots in the items' order."""
    made = ensure_repository()
    with ThreadPoolExecutor(PARALLEL_BACKUPS) as pool:
        snapshots = list(pool.map(lambda item: back_up_item(item, host), job["items"]))
    return {"repository_made": made, "snapshots": snapshots}


def back_up_item(item: dict, host: str) -> dict:
    print(f"Backing up {item['path']}", file=sys.stderr, flush=True)
    tags = [arg for tag in item["tags"] for arg in ("--tag", tag)]
    leftover = f"{item['path']}/{PARTIAL}"  # of a restore that was stopped midway
    output = restic("backup", "--json", "--host", host, *tags, "--exclude", leftover, item["path"], progress=True)
    summary = next(json.loads(line) for line in reversed(output.splitlines()) if '"message_type":"summary"' in line)
    return {
        "path": item["path"],
        "tags": item["tags"],
        "snapshot": summary["snapshot_id"],
        "bytes_added": summary.get("data_added", 0),
        "bytes_total": summary.get("total_bytes_processed", 0),
        "files": summary.get("total_files_processed", 0),
    }


def snapshots(job: dict, host: str) -> list:
    tags = [arg for tag in job.get("tags", ()) for arg in ("--tag", tag)]
    return json.loads(restic("--no-lock", "snapshots", "--json", "--host", host, *tags) or "[]")


def restore(job: dict, host: str) -> dict:
    """Restore the snapshot's `source` (the volume, or a folder in it) into the volume mounted at `mount`: into a
    new folder named `into` (a folder keeps its place below it), or, when `into` is empty, as the volume's whole
    content (the volume must be empty). Everything lands in a partial folder first and moves into place after."""
    mount, source, volume_path = Path(job["mount"]), job["source"], job["volume_path"]
    if not job["into"] and any(entry.name != PARTIAL for entry in mount.iterdir()):
        raise ResticError("the volume is not empty; a restore replaces only an empty or lost volume")
    partial = mount / PARTIAL
    if partial.exists():
        shutil.rmtree(partial)  # a restore that was stopped midway: ours, never the user's
    try:
        with Restoring(partial):
            restic("--no-lock", "restore", job["snapshot"], "--target", str(partial), "--include", source)
        restored = partial / source.lstrip("/")
        if not restored.exists():
            raise ResticError(f"the snapshot holds no {source.removeprefix(volume_path).lstrip('/') or 'files'}")
        if job["into"]:
            target = free_place(mount, job["into"])
            put_into(restored, target, source.removeprefix(volume_path).lstrip("/"), mount)
        else:
            target = mount
            put_as_volume(partial / volume_path.lstrip("/"), mount)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    files = sum(len(names) for _, _, names in os.walk(target))
    return {"restored_into": target.name if job["into"] else "", "files": files}


class Restoring(threading.Thread):
    """restic restore says nothing until it is done: a line on stderr every few seconds with what has landed."""

    def __init__(self, partial: Path):
        super().__init__(daemon=True)
        self.partial, self.done = partial, threading.Event()

    def __enter__(self) -> "Restoring":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.done.set()
        self.join()

    def run(self) -> None:
        while not self.done.wait(PROGRESS_SECONDS):
            landed = sum(path.stat().st_size for path in self.partial.rglob("*") if path.is_file())
            print(f"{landed / 1e6:.1f} MB restored so far", file=sys.stderr, flush=True)


def free_place(mount: Path, into: str) -> Path:
    """`into`, or into-2, into-3, …: a name nothing in the home has, so that a restore never overwrites."""
    for number in range(1, 1000):
        target = mount / (into if number == 1 else f"{into}-{number}")
        if not target.exists() and not target.is_symlink():
            return target
    raise ResticError(f"{into} and 999 more names like it exist already in the home")


def put_into(restored: Path, target: Path, relative: str, mount: Path) -> None:
    """Move the restored copy to target/relative (the whole home: its entries into target). The target and the
    folders made above the copy are the home owner's, as the home is."""
    owner, parts = mount.stat(), Path(relative).parts
    for folder in [target.joinpath(*parts[:count]) for count in range(max(len(parts), 1))]:
        folder.mkdir()
        os.chown(folder, owner.st_uid, owner.st_gid)
    if relative:
        restored.rename(target / relative)
        return
    for entry in restored.iterdir():
        entry.rename(target / entry.name)


def put_as_volume(restored: Path, mount: Path) -> None:
    """The volume's whole content, with the root's owner and mode as they were."""
    for entry in restored.iterdir():
        entry.rename(mount / entry.name)
    status = restored.stat()
    os.chown(mount, status.st_uid, status.st_gid)
    os.chmod(mount, status.st_mode & 0o7777)


def forget(job: dict, host: str) -> list:
    keep = [arg for period, count in job["keep"].items() for arg in (f"--keep-{period}", str(count))]
    output = restic("forget", "--json", "--prune", "--host", host, "--group-by", "host,paths", *keep)
    return json.loads(output.splitlines()[0]) if output.strip() else []


def check(job: dict, host: str) -> dict:
    return {"output": restic("check").strip().splitlines()[-1:]}


def reach(job: dict, host: str) -> dict:
    """The repository opens with the password (nothing is made or locked)."""
    restic("--no-lock", "cat", "config")
    return {}


ACTIONS = {
    "backup": backup,
    "snapshots": snapshots,
    "restore": restore,
    "forget": forget,
    "check": check,
    "reach": reach,
}


def main() -> int:
    action = ACTIONS.get(os.environ.get("RESTIC_ACTION", ""))
    if action is None:
        print(f"RESTIC_ACTION must be one of {', '.join(ACTIONS)}", file=sys.stderr)
        return 1
    try:
        result = action(json.loads(os.environ.get("RESTIC_JOB") or "{}"), os.environ["BACKUP_HOST"])
    except (ResticError, OSError, KeyError, ValueError) as error:
        print("restic failed: " + "; ".join(line.strip() for line in str(error).splitlines()), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
