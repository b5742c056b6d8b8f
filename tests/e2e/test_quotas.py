"""Per-user disk quotas (USER_STORAGE_DIR on a btrfs file system that the test makes on a loop device,
USER_DISK_QUOTA=50M): alice's writes stop at her quota with EDQUOT while bob, whose profile's disk_quota is 100M,
writes past 50M, and the hub stays healthy; her full home still starts, JupyterLab shows its use and quota with a
warning, and she can free space; `appliance storage`
lists both homes, and the hub's metrics show them; `appliance storage migrate` moves a home made before (a plain
Docker volume) into USER_STORAGE_DIR with the same files, owners and modes, keeps the old files, and leaves a home
whose server runs; a folder on ext4 is refused at start with what USER_STORAGE_DIR needs."""

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from harness.btrfs import mounted_btrfs
from harness.compose import INSTANCE_LABEL, SINGLEUSER_IMAGE, Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, running_server_of, wait_until
from tests.e2e.browser import LAB_SECONDS, chromium, keep_screenshot, log_in
from tests.e2e.user_files import FILL, assert_writes_stop_at_quota

QUOTA_MB = 50
ROOMY_MB = 100
PROFILES = f"""\
profiles:
  - name: standard
    default: true
  - name: roomy
    disk_quota: {ROOMY_MB}M
"""
METRICS_TOKEN = "quotas-metrics-token-0123456789abcdef"


@pytest.fixture(scope="module")
def btrfs_dir(tmp_path_factory):
    """A 400 MB btrfs on a loop file, mounted for the module; quotas off, as mkfs leaves them."""
    with mounted_btrfs(tmp_path_factory.mktemp("quotas")) as homes:
        yield homes


@pytest.fixture(scope="module")
def stack(stack_factory, btrfs_dir, tmp_path_factory) -> Stack:
    profiles_dir = tmp_path_factory.mktemp("profiles")
    (profiles_dir / "profiles.yml").write_text(PROFILES)
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD,
                          "ALLOWED_USERS": "alice,bob,carol,dave", "USER_STORAGE_DIR": str(btrfs_dir),
                          "USER_DISK_QUOTA": f"{QUOTA_MB}M", "PROFILES_DIR": str(profiles_dir),
                          "METRICS_TOKEN": METRICS_TOKEN})  # fmt: skip


def running(stack: Stack, name: str, profile: str = "standard") -> HubClient:
    return running_server_of(stack, name, USER_PASSWORD, {"profile": profile})


def test_the_hub_turned_quotas_on_at_start(stack, btrfs_dir):
    assert f"USER_STORAGE_DIR={btrfs_dir}: turned btrfs quotas on" in stack.logs()


def test_alices_writes_stop_at_her_quota_and_bob_with_a_roomier_profile_still_writes(stack, btrfs_dir):
    alice = running(stack, "alice")
    assert_writes_stop_at_quota(alice, QUOTA_MB)
    volume = stack.volume_name("alice")
    assert (btrfs_dir / volume / "work" / "filler").exists(), "her home is her subvolume in USER_STORAGE_DIR"
    bob = running(stack, "bob", profile="roomy")
    assert bob.run_once(FILL.format(mb=QUOTA_MB + 20)).split() == ["written", str(QUOTA_MB + 20)]
    assert stack.client_for().login("admin", ADMIN_PASSWORD).api("GET", "/users/alice").status_code == 200


def disk_figures(person: HubClient) -> dict:
    """What JupyterLab's status bar shows of the home's disk (jupyter-resource-usage's metrics)."""
    metrics = person.server_api("GET", "/metrics/v1").json()
    return {"used": metrics.get("disk_used"), "total": metrics.get("disk_total"), **metrics["limits"].get("disk", {})}


def test_alices_full_home_still_starts_and_she_frees_space(stack):
    alice = running(stack, "alice")
    alice.stop_server()
    wait_until(lambda: not stack.user_containers("alice"), "alice's container to go")
    alice = running(stack, "alice")
    full = disk_figures(alice)
    assert full["total"] == QUOTA_MB * 2**20 and full["used"] > 0.9 * full["total"] and full["warn"] is True, full
    assert alice.server_api("DELETE", "/contents/filler").status_code == 204, "JupyterLab's file browser deletes"
    assert alice.run_once(FILL.format(mb=10)).split() == ["written", "10"]

    def shows_the_freed_home() -> bool:
        figures = disk_figures(alice)
        return figures["warn"] is False and 10 * 2**20 <= figures["used"] < 20 * 2**20

    # btrfs counts a qgroup's use when it commits a transaction (within 30 s).
    wait_until(shows_the_freed_home, "the status bar to show 10 MB used, without the warning", seconds=60)


def test_jupyterlab_shows_the_homes_use_and_quota_in_its_status_bar(stack):
    running(stack, "alice")
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, stack.url, "alice", USER_PASSWORD)
        page.goto(f"{stack.url}/user/alice/lab")
        try:
            expect(page.locator("#jp-main-statusbar")).to_contain_text(
                re.compile(r"Disk:\s+[0-9.]+ / 50\.00 MB"), timeout=LAB_SECONDS * 1000
            )
        finally:
            keep_screenshot(page, "quota-in-the-status-bar.png")


def test_appliance_storage_lists_each_home_with_its_quota(stack):
    listed = stack.compose_result("exec", "-T", "hub", "appliance", "storage")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:-1]}
    assert {"alice", "bob"} <= set(rows)
    assert rows["bob"][1] == stack.volume_name("bob") and rows["bob"][3] == f"{ROOMY_MB}.0M"
    assert rows["alice"][3] == f"{QUOTA_MB}.0M"
    assert listed.stdout.splitlines()[-1].startswith(f"total ({len(rows)} homes)")
    metrics = requests.get(f"{stack.url}/hub/metrics", headers={"Authorization": f"token {METRICS_TOKEN}"}, timeout=30)
    gauges = {
        (sample.name, sample.labels.get("user")): sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if sample.name.startswith("appliance_user_disk")
    }
    assert gauges[("appliance_user_disk_quota_bytes", "bob")] == ROOMY_MB * 2**20
    assert gauges[("appliance_user_disk_used_bytes", "bob")] >= (QUOTA_MB + 20) * 2**20


# Files of every kind a home has: the user's own, a private one, a symlink, and root's.
OLDER_FILES = (
    "mkdir -p /v/work/data && echo 'a,b' > /v/work/data/table.csv && echo 'export X=1' > /v/.bashrc"
    " && ln -s data/table.csv /v/work/latest && chown -R 1000:1000 /v && chmod 0600 /v/.bashrc"
    " && echo root > /v/work/by-root.txt"
)
LISTING = "cd /v && find . -printf '%p %y %u:%g %m %l\\n' | sort && find . -type f -exec sha256sum {} + | sort"


def in_volume(docker_client, volume: str, command: str, mode: str = "ro") -> str:
    return docker_client.containers.run(SINGLEUSER_IMAGE, ["sh", "-c", command], user="0", remove=True,
                                        network_disabled=True, volumes={volume: {"bind": "/v", "mode": mode}},
                                        entrypoint=[]).decode()  # fmt: skip


def older_home(docker_client, stack: Stack, user: str) -> str:
    """A home as a release before USER_STORAGE_DIR made it: a labelled Docker volume; its files' listing."""
    volume = stack.volume_name(user)
    docker_client.volumes.create(volume, labels={INSTANCE_LABEL: stack.project, "jupyterhub-appliance.user": user})
    in_volume(docker_client, volume, OLDER_FILES, mode="rw")
    return in_volume(docker_client, volume, LISTING)


def test_migrate_moves_an_older_home_in_with_every_file_and_keeps_the_old_one(stack, btrfs_dir, docker_client):
    listing = older_home(docker_client, stack, "carol")
    older_home(docker_client, stack, "dave")
    dave = running(stack, "dave")
    assert "was made before USER_STORAGE_DIR had quotas: it has none" in stack.logs(), "an older home still starts"

    moved = stack.compose_result("exec", "-T", "hub", "appliance", "storage", "migrate")
    assert moved.returncode == 1, "dave's home was left: his server runs"
    assert "[1/2] carol" in moved.stdout and "each the same as its source" in moved.stdout
    assert "a container of dave uses it" in moved.stdout
    assert "Moved 1 home(s)" in moved.stderr and "left 1 whose server is running" in moved.stderr

    volume = stack.volume_name("carol")
    assert docker_client.volumes.get(volume).attrs["Options"]["device"] == f"{btrfs_dir}/{volume}"
    assert in_volume(docker_client, volume, LISTING) == listing, "the same files, owners, modes and contents"
    assert in_volume(docker_client, f"{volume}.before-quotas", LISTING) == listing, "the old files kept"
    carol = running(stack, "carol")
    assert carol.run_once("print(open('data/table.csv').read().strip())") == "a,b"

    dave.stop_server()
    wait_until(lambda: not stack.user_containers("dave"), "dave's container to go")
    dave_listing = in_volume(docker_client, stack.volume_name("dave"), LISTING)  # with what his server wrote
    again = stack.compose_result("exec", "-T", "hub", "appliance", "storage", "migrate", "dave")
    assert again.returncode == 0, again.stdout + again.stderr
    assert in_volume(docker_client, stack.volume_name("dave"), LISTING) == dave_listing
    listed = stack.compose_result("exec", "-T", "hub", "appliance", "storage").stdout
    assert stack.volume_name("carol") in listed and stack.volume_name("dave") in listed


def test_a_folder_without_btrfs_is_refused_at_start(stack_factory, tmp_path):
    ext4 = Path(tmp_path) / "not-btrfs"
    ext4.mkdir()
    stack = stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_STORAGE_DIR": str(ext4)}, healthy=False)

    def exited():
        hub = stack.hub_container()
        return hub if hub.status == "exited" else None

    hub = wait_until(exited, "the hub with a USER_STORAGE_DIR on ext4 to exit", seconds=120)
    assert hub.attrs["State"]["ExitCode"] == 2
    logs = stack.logs()
    assert f"USER_STORAGE_DIR={ext4}: the folder is on ext" in logs and "not btrfs" in logs
    assert "quotas need a btrfs file system" in logs
