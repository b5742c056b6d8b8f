"""Users' data has a lifecycle: an admin lists every user's volumes with their last activity, archives the data of
users who left (checked before anything is removed), and removes it only when asked; a deleted user's volumes go
to the archive when DELETED_USER_DATA=archive, with every file (private ones too) inside."""

import subprocess

import pytest

from harness.compose import RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.user_files import checksums, writing

# Files of every kind: random data in nested folders, a dotfile, a private key only its owner may read.
FILES = ("work/data/a.bin", "work/data/deep/b.bin", ".gitconfig", ".ssh/id_ed25519")
WRITE_FILES = writing("/home/jovyan", FILES, seed=41)
CHECKSUMS = checksums("/home/jovyan", FILES)
# Run in a throwaway container on the archive volume: each archived file of those above, with its checksum.
ARCHIVED_CHECKSUMS = """
import glob, hashlib, sys, tarfile
[archive] = glob.glob(f'/archives/{sys.argv[1]}-*.tar.gz')
with tarfile.open(archive) as tar:
    for path in sys.argv[3:]:
        member = tar.getmember(f'volumes/{sys.argv[2]}/{path}')
        print(path, hashlib.sha256(tar.extractfile(member).read()).hexdigest())
"""


@pytest.fixture(scope="module")
def stack(stack_factory) -> Stack:
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "alice,bob,carol",
            "DELETED_USER_DATA": "archive",
        }
    )


def user_with_files(stack: Stack, name: str) -> tuple[HubClient, str]:
    client = stack.client_for().login(name, USER_PASSWORD)
    client.ensure_running()
    client.run_once(WRITE_FILES)
    return client, client.run_once(CHECKSUMS)


@pytest.fixture(scope="module")
def users(stack) -> dict[str, tuple[HubClient, str]]:
    return {name: user_with_files(stack, name) for name in ("alice", "bob")}


def user_data(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return stack.compose_result("exec", "-T", "hub", "appliance", "user-data", *args)


def listed(stack: Stack, *args: str) -> dict[str, list[str]]:
    """`appliance user-data list`, as {user: [in hub, last active, server, volumes]}."""
    result = user_data(stack, "list", *args)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["USER", "IN", "HUB", "LAST", "ACTIVE", "SERVER", "VOLUMES"]
    return {row.split()[0]: row.split()[1:] for row in rows}


def archived_checksums(stack: Stack, docker_client, user: str) -> str:
    output = docker_client.containers.run(
        SINGLEUSER_IMAGE, ["python3", "-c", ARCHIVED_CHECKSUMS, user, stack.volume_name(user), *FILES],
        entrypoint=[], user="0", network_mode="none", remove=True, labels={TEST_RUN_LABEL: RUN_ID},
        volumes={f"{stack.project}-user-archives": {"bind": "/archives", "mode": "ro"}},
    )  # fmt: skip
    return output.decode().strip()


def test_the_list_shows_each_users_volumes_activity_and_server(stack, users):
    rows = listed(stack)
    assert rows["alice"][0] == "yes" and rows["alice"][-2:] == ["yes", stack.volume_name("alice")]
    assert rows["bob"][-2:] == ["yes", stack.volume_name("bob")]
    assert rows["carol"] == ["yes", "never", "no", "-"], "a hub user with no data yet"
    assert set(listed(stack, "--inactive-days", "1")) == {"admin", "carol"}, "alice and bob were active today"


def test_data_in_use_is_neither_archived_nor_removed_and_removal_needs_yes(stack, users):
    busy = user_data(stack, "archive", "alice", "--remove")
    assert busy.returncode == 1 and "alice has a server, so their volumes are in use" in busy.stderr
    unconfirmed = user_data(stack, "remove", "alice")
    assert unconfirmed.returncode == 2 and "add --yes" in unconfirmed.stderr
    misspelt = user_data(stack, "remove", "alcie", "--yes")
    assert misspelt.returncode == 1 and "no volumes and no hub user named alcie" in misspelt.stderr
    assert stack.volume_name("alice") in {volume.name for volume in stack.user_volumes()}
    assert users["alice"][0].run_once(CHECKSUMS) == users["alice"][1]


def test_a_deleted_users_files_all_go_to_the_archive_before_the_volume_goes(stack, users, admin, docker_client):
    bob, checksums = users["bob"]
    bob.stop_server()
    response = admin.api("DELETE", "/users/bob")
    assert response.status_code == 204, response.text
    assert stack.volume_name("bob") not in {volume.name for volume in stack.user_volumes()}
    assert archived_checksums(stack, docker_client, "bob") == checksums, "every file, the private key too"
    logs = stack.logs()
    assert "Archived bob:" in logs and f"Removed bob's volume {stack.volume_name('bob')}" in logs
    assert "bob" not in listed(stack)


def test_an_admin_archives_a_user_who_left_then_the_volume_is_removed(stack, users, docker_client):
    alice, checksums = users["alice"]
    alice.stop_server()
    wait_until(lambda: not stack.user_containers("alice"), "alice's container to go")
    done = user_data(stack, "archive", "alice", "--remove")
    assert done.returncode == 0, done.stderr
    assert "MB (100%)" in done.stderr and "checked" in done.stderr, "progress, then the checked archive"
    assert archived_checksums(stack, docker_client, "alice") == checksums
    assert listed(stack)["alice"][-1] == "-"
    again = user_data(stack, "remove", "alice", "--yes")
    assert again.returncode == 0 and "remove: 0 user(s) done" in again.stderr, "nothing left to remove"
