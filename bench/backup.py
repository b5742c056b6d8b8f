"""`make bench-backup`: what backing users' files up with restic costs, against a plain tar of the same data.

One appliance with BACKUP_REPOSITORY on a folder of this machine; 20 users' volumes (1 GB of random data in all, by
default: incompressible, the worst case for restic and tar alike), made with the appliance's labels. In one run:
the first backup (`appliance backup --users`), 1 % of the data changed (a new file in each volume), the second
backup, a plain `tar` of the same volumes in a helper container, and a restore of one user's whole home into a new
folder. Prints a table; writes bench/results/backup-<time>.json and .md, and latest-backup.md.
"""

import argparse
import re
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from appliance import docker_host
from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER
from bench.run import BENCH_LABEL, RESULTS, RUN, log, machine, write_results
from harness.compose import SINGLEUSER_IMAGE, Stack
from harness.credentials import ADMIN_PASSWORD

FILES_PER_USER = 10
SUMMARY = re.compile(r"Backed up (\d+) user\(s\): ([\d.]+) MB new, ([\d.]+) MB in all, in (\d+) s")


def throwaway(client, command: str, volumes: dict) -> None:
    """A shell command in the user image as root, no network, with the given volumes; fails loudly."""
    client.containers.run(SINGLEUSER_IMAGE, ["sh", "-c", command], entrypoint=[], user="0", network_mode="none",
                          remove=True, labels={BENCH_LABEL: RUN}, volumes=volumes)  # fmt: skip


def make_user_volumes(client, stack: Stack, users: list[str], megabytes_each: float) -> None:
    """Each user's volume, labelled as the appliance labels them, holding FILES_PER_USER files of random data."""
    size = int(megabytes_each * 1024**2 / FILES_PER_USER)
    for user in users:
        name = stack.volume_name(user)
        client.volumes.create(name, labels={LABEL_INSTANCE: stack.project, LABEL_USER: user, LABEL_SERVER: ""})
        fill = (
            f"mkdir -p /v/work && for i in $(seq {FILES_PER_USER}); do head -c {size} /dev/urandom > /v/work/f$i; done"
        )
        throwaway(client, f"{fill} && chown -R 1000:100 /v", {name: {"bind": "/v", "mode": "rw"}})


def change_each(client, stack: Stack, users: list[str], megabytes_each: float) -> None:
    size = int(megabytes_each * 1024**2)
    for user in users:
        volume = {stack.volume_name(user): {"bind": "/v", "mode": "rw"}}
        throwaway(client, f"head -c {size} /dev/urandom > /v/work/changed-{RUN}", volume)


def timed_appliance(stack: Stack, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = stack.compose_result("exec", "-T", "hub", "appliance", *args)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"appliance {' '.join(args)} failed:\n{result.stderr}")
    return seconds, result.stderr


def backup(stack: Stack, repository: Path) -> dict:
    seconds, said = timed_appliance(stack, "backup", "--users")
    summary = SUMMARY.search(said)
    if summary is None:
        raise RuntimeError(f"no summary in:\n{said}")
    return {
        "seconds": round(seconds, 1),
        "users": int(summary[1]),
        "mb_new": float(summary[2]),
        "mb_in_all": float(summary[3]),
        "repository_mb": round(folder_bytes(repository) / 1024**2, 1),
    }


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def plain_tar(client, stack: Stack, users: list[str], output: Path) -> dict:
    """tar of the same volumes, read-only, into a file of this machine: what copying the volumes yourself costs."""
    volumes = {stack.volume_name(user): {"bind": f"/volumes/{user}", "mode": "ro"} for user in users}
    volumes[str(output)] = {"bind": "/out", "mode": "rw"}
    started = time.monotonic()
    throwaway(client, "tar -cf /out/volumes.tar -C / volumes && sync", volumes)
    seconds = time.monotonic() - started
    size = (output / "volumes.tar").stat().st_size
    throwaway(client, "rm -f /out/volumes.tar", {str(output): {"bind": "/out", "mode": "rw"}})
    return {"seconds": round(seconds, 1), "mb": round(size / 1024**2, 1)}


@contextmanager
def repository_folder(client):
    """A folder for the repository; restic's helper (root) fills it, so a container empties it afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as folder:
        try:
            yield Path(folder)
        finally:
            throwaway(client, "rm -rf /r/* /r/.[!.]*", {folder: {"bind": "/r", "mode": "rw"}})


def run(users_count: int, total_mb: float, changed_percent: float) -> dict:
    client = docker_host.client(timeout=3600)
    users = [f"u{index:02d}" for index in range(1, users_count + 1)]
    each_mb = total_mb / users_count
    with repository_folder(client) as repository, tempfile.TemporaryDirectory() as workdir:
        settings = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "BACKUP_REPOSITORY": str(repository), "BACKUP_SCHEDULE": "off"}
        stack = Stack(client, Path(workdir), settings)
        log(f"starting the appliance ({stack.project}) with a repository in {repository}")
        stack.up(healthy=True)
        try:
            log(f"making {users_count} users' volumes, {total_mb:.0f} MB of random data in all")
            make_user_volumes(client, stack, users, each_mb)
            log("first backup")
            first = backup(stack, repository)
            log(f"changing {changed_percent} % of the data")
            change_each(client, stack, users, each_mb * changed_percent / 100)
            log("second backup")
            second = backup(stack, repository)
            log("plain tar of the same volumes")
            with tempfile.TemporaryDirectory(dir=repository.parent) as output:
                tar = plain_tar(client, stack, users, Path(output))
            log(f"restoring {users[len(users) // 2]}'s whole home into a new folder")
            restore_seconds, _ = timed_appliance(stack, "restore-user", users[len(users) // 2], "--into", "bench")
        finally:
            stack.down()
    return {
        "run": RUN,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sizes": {"users": users_count, "total_mb": total_mb, "changed_percent": changed_percent},
        "first_backup": first,
        "second_backup": second,
        "plain_tar": tar,
        "restore_one_user_seconds": round(restore_seconds, 1),
        "ratios": {
            "first backup / tar": round(first["seconds"] / tar["seconds"], 2) if tar["seconds"] else None,
            "second backup / tar": round(second["seconds"] / tar["seconds"], 2) if tar["seconds"] else None,
        },
    }


def markdown(results: dict) -> str:
    first, second, tar = results["first_backup"], results["second_backup"], results["plain_tar"]
    sizes = results["sizes"]
    return "\n".join([
        f"# Backups of users' files, {results['when']} (run {results['run']})",
        "",
        f"{sizes['users']} users, {sizes['total_mb']:.0f} MB of random data in all, {sizes['changed_percent']} % "
        "changed between the backups.",
        "",
        "| step | seconds | ratio to tar | MB written |",
        "|---|---|---|---|",
        f"| plain tar of the volumes | {tar['seconds']} | 1.00 | {tar['mb']} |",
        f"| first backup (restic) | {first['seconds']} | {results['ratios']['first backup / tar']} | "
        f"{first['repository_mb']} (repository) |",
        f"| second backup, {sizes['changed_percent']} % changed | {second['seconds']} | "
        f"{results['ratios']['second backup / tar']} | +{second['repository_mb'] - first['repository_mb']:.1f} |",
        f"| restore of one user ({sizes['total_mb'] / sizes['users']:.0f} MB) | "
        f"{results['restore_one_user_seconds']} | | |",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.backup", description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--total-mb", type=float, default=1024)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON and markdown")
    args = parser.parse_args(argv)
    results = run(args.users, args.total_mb, args.changed_percent)
    table = markdown(results)
    write_results(args.results, "backup", "latest-backup.md", results, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
