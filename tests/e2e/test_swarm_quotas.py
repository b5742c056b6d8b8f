"""Per-user quotas in swarm mode, on this host's single-node swarm: SWARM_HOMES on a btrfs that the test makes on a
loop device, with USER_DISK_QUOTA=50M. Each new home in SWARM_HOMES is a subvolume with the quota: alice's writes stop
at it with EDQUOT while bob still writes, and the hub stays healthy; an older plain folder still starts, without a
quota; `appliance storage` lists the homes, also one whose volume the manager lacks (as a worker's); SWARM_HOMES on
a folder that is not btrfs is refused at start."""

import subprocess
from pathlib import Path

import docker.errors
import pytest

from harness.btrfs import mounted_btrfs
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, running_server_of, wait_until
from harness.swarm import SwarmStack
from tests.e2e.user_files import FILL, assert_writes_stop_at_quota

QUOTA_MB = 50
PROFILES = "profiles:\n  - {name: standard, default: true}\n"


def settings_with(homes: str) -> dict[str, str]:
    return {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "USER_PASSWORD": USER_PASSWORD,
        "ALLOWED_USERS": "alice,bob,carol",
        "IDLE_TIMEOUT": "0",
        "PULL_AHEAD": "false",
        "SWARM_HOMES": homes,
        "USER_DISK_QUOTA": f"{QUOTA_MB}M",
    }


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """SWARM_HOMES: a 400 MB btrfs on a loop file, quotas off as mkfs leaves them."""
    with mounted_btrfs(tmp_path_factory.mktemp("swarm-quotas")) as folder:
        yield folder


@pytest.fixture(scope="module")
def stack(swarm, docker_client, homes, tmp_path_factory):
    deployed = SwarmStack(
        docker_client, tmp_path_factory.mktemp("swarm-quotas"), settings_with(str(homes)), PROFILES,
        overlays=("compose/swarm-homes.yml",), name="swarm-quotas",
    )  # fmt: skip
    try:
        yield deployed.deploy()
    finally:
        deployed.down()


def is_subvolume(folder: Path) -> bool:
    """As btrfs-progs on this host tells."""
    return subprocess.run(["btrfs", "subvolume", "show", str(folder)], capture_output=True, check=False).returncode == 0


def running(stack: SwarmStack, name: str) -> HubClient:
    return running_server_of(stack, name, USER_PASSWORD, {"profile": "standard"})


def test_the_hub_turned_quotas_on_in_swarm_homes_at_start(stack, homes):
    assert f"SWARM_HOMES={homes}: turned btrfs quotas on" in stack.logs()


def test_alices_writes_stop_at_her_quota_in_swarm_homes_and_bob_still_writes(stack, homes):
    alice = running(stack, "alice")
    assert_writes_stop_at_quota(alice, QUOTA_MB)
    folder = homes / stack.volume_name("alice")
    assert is_subvolume(folder), "her home is a subvolume of SWARM_HOMES"
    assert (folder / "work" / "filler").exists()
    bob = running(stack, "bob")
    assert bob.run_once(FILL.format(mb=20)).split() == ["written", "20"]
    assert HubClient(stack.url).login("admin", ADMIN_PASSWORD).api("GET", "/users/alice").status_code == 200


def test_an_older_plain_folder_still_starts_without_a_quota(stack, homes):
    folder = homes / stack.volume_name("carol")
    folder.mkdir(mode=0o700)  # as the hub made homes before USER_DISK_QUOTA
    carol = running(stack, "carol")
    assert carol.run_once(FILL.format(mb=QUOTA_MB + 10)).split() == ["written", str(QUOTA_MB + 10)]
    assert not is_subvolume(folder)
    assert f"{stack.volume_name('carol')} was made before SWARM_HOMES had quotas: it has none" in stack.logs()


def test_appliance_storage_lists_the_homes_also_where_the_manager_has_no_volume(stack, docker_client):
    """bob's volume removed from this engine stands for a home whose volume is on a worker: his subvolume still
    says whose it is."""
    bob = running(stack, "bob")
    bob.stop_server()
    wait_until(lambda: not stack.user_services("bob"), "bob's service to go")
    wait_until(lambda: removed(docker_client, stack.volume_name("bob")), "bob's task container to let go of his volume")
    status, listed = stack.hub_exec("appliance", "storage")
    assert status == 0, listed
    rows = {line.split()[0]: line.split() for line in listed.splitlines()[1:-1]}
    assert set(rows) == {"alice", "bob", "carol"}, listed
    assert rows["alice"][1] == stack.volume_name("alice") and rows["alice"][3] == f"{QUOTA_MB}.0M"
    assert rows["bob"][1] == stack.volume_name("bob") and rows["bob"][3] == f"{QUOTA_MB}.0M"
    assert rows["carol"][2:] == ["-", "-", "-"], "her older folder: no subvolume, no quota"
    assert listed.splitlines()[-1].startswith("total (3 homes)")


def removed(docker_client, volume: str) -> bool:
    try:
        docker_client.volumes.get(volume).remove()
    except docker.errors.APIError as error:  # in use until Swarm removes the task's container
        if error.status_code != 409:
            raise
        return False
    return True


def test_swarm_homes_that_are_not_btrfs_are_refused_at_start(swarm, docker_client, tmp_path_factory):
    plain = tmp_path_factory.mktemp("swarm-plain-homes")
    refused = SwarmStack(
        docker_client, tmp_path_factory.mktemp("swarm-refused"), settings_with(str(plain)), PROFILES,
        overlays=("compose/swarm-homes.yml",), name="swarm-refused",
    )  # fmt: skip
    try:
        logs = refused.deploy_refused(saying=f"SWARM_HOMES={plain}: the folder is on")
        assert "not btrfs" in logs and "quotas need a btrfs file system" in logs
    finally:
        refused.down()
