"""SPAWNER_MODE=system: servers run as real host accounts, in their own homes, and never as root."""

import io
import os
import shutil
import subprocess
from pathlib import Path

import docker
import pytest

from harness.compose import ARTIFACTS, RUN_ID, SYSTEMUSER_IMAGE, TEST_RUN_LABEL, doctor, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient
from tests.e2e.canaries import CANARY_PORT, METADATA
from tests.e2e.network_probe import OUTSIDE, kernel_of, listen_in, reaches

# Native login: in system mode each user has their own password, and an admin approves each sign-up.
HOMES = Path(f"/tmp/appliance-e2e-homes-{RUN_ID}")
GROUP = ("e2elab", 2100)
# name: (uid, has a home)
ACCOUNTS = {"sysalice": (2001, True), "sysbob": (2002, True), "nohome": (2003, False), "sysfirst": (2004, True)}


def host(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def remove_accounts() -> None:
    for name in ACCOUNTS:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)
    subprocess.run(["groupdel", GROUP[0]], capture_output=True)


@pytest.fixture(scope="module")
def host_accounts():
    """Real accounts on the test host, with homes under HOMES; removed afterwards."""
    remove_accounts()
    HOMES.mkdir(mode=0o755)
    host("groupadd", "-g", str(GROUP[1]), GROUP[0])
    for name, (uid, has_home) in ACCOUNTS.items():
        host("groupadd", "-g", str(uid), name)
        home = HOMES / name
        extra = ["-m"] if has_home else ["-M"]
        groups = ["-G", GROUP[0]] if name == "sysalice" else []
        host("useradd", "-u", str(uid), "-g", str(uid), *groups, "-d", str(home), *extra, "-s", "/bin/bash", name)
        if has_home:
            home.chmod(0o700)
    yield
    remove_accounts()
    shutil.rmtree(HOMES)


def system_stack(stack_factory, **env):
    return stack_factory(
        {
            "AUTH_MODE": "native",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ALLOWED_USERS": "sysalice,sysbob,nohome,ghost,stranger,sysfirst",
            "HOME_FORMAT": f"{HOMES}/{{username}}",
            **env,
        },
        overlays=("compose/systemuser.yml",),
    )


def approved(stack, name: str) -> HubClient:
    """Signed up, approved by the admin, logged in."""
    client = stack.client_for()
    client.sign_up(name, USER_PASSWORD)
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    assert admin.toggle_approval(name).status_code == 302 and admin.approved(name)
    return client.login(name, USER_PASSWORD)


@pytest.fixture(scope="module")
def stack(stack_factory, host_accounts):
    return system_stack(stack_factory)


@pytest.fixture(scope="module")
def alice(stack) -> HubClient:
    client = approved(stack, "sysalice")
    record_spawn(client.ensure_running())
    client.create_notebook("whoami.ipynb")
    return client


def test_the_doctor_finds_the_host_accounts_through_the_mounted_files(stack):
    _, rows, report = doctor(stack)
    assert rows["system mode"] == "PASS", report
    [line] = [line for line in report.splitlines() if line.startswith("system mode")]
    eligible = int(line.split("PASS")[1].split()[0])
    assert eligible >= len(ACCOUNTS), "the test's accounts are in the host's passwd file the hub reads"
    assert "host account(s) from uid 1000 may have servers" in line
    _, rows, report = doctor(stack, SYSTEM_USERS_GROUP="no-such-group-e2e")
    assert rows["system mode"] == "FAIL" and "SYSTEM_USERS_GROUP=no-such-group-e2e is no group of the host" in report


def test_the_server_runs_as_the_host_account_in_its_own_home(alice):
    kernel = alice.start_kernel("whoami.ipynb")
    printed = kernel.run(
        "import os, subprocess\n"
        "def run(*command): return subprocess.run(command, capture_output=True, text=True).stdout.strip()\n"
        "open(os.path.expanduser('~/from-kernel.txt'), 'w').write('written by the kernel')\n"
        "print(run('id'))\n"
        "print(run('whoami'), os.environ['USER'], os.environ['HOME'], os.getcwd())\n"
        "print(run('bash', '-c', 'PS1=\"\\\\u@\\\\h:\\\\w\\\\$ \"; echo \"${PS1@P}\"'))"
    )
    kernel.close()
    identity, names, prompt = printed.splitlines()
    assert identity == "uid=2001(sysalice) gid=2001(sysalice) groups=2001(sysalice),2100(e2elab)"
    assert names.split() == ["sysalice", "sysalice", "/home/sysalice", "/home/sysalice"]
    assert prompt.startswith("sysalice@") and prompt.endswith(":~$")

    written = HOMES / "sysalice" / "from-kernel.txt"
    assert (written.stat().st_uid, written.stat().st_gid) == (2001, 2001)
    assert written.read_text() == "written by the kernel"
    listing = subprocess.run(["ls", "-ln", str(written)], capture_output=True, text=True).stdout
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "system-user.txt").write_text(f"id in the server: {identity}\nls -ln on the host: {listing}")


def test_no_process_in_the_server_runs_as_root(stack, alice):
    [container] = stack.user_containers("sysalice")
    top = container.top(ps_args="-o pid,uid,comm")
    uids = {process[1] for process in top["Processes"]}
    assert uids == {"2001"}, top


def test_the_network_rules_hold_in_system_mode_too(stack, alice, canaries):
    bob = approved(stack, "sysbob")
    record_spawn(bob.ensure_running())
    listen_in(kernel_of(bob), 9000)
    targets = {"bob's own port": (stack.server_name("sysbob"), 9000), "hub API": ("hub", 8081), **OUTSIDE}
    assert reaches(kernel_of(alice, "network.ipynb"), targets) == {
        "bob's own port": "Connection refused",
        "hub API": "open",
        "internet": "open",
        "metadata": "Connection refused",
        "private": "Connection refused",
        "allowed private": "Connection refused",
    }


# The server loads this from the home as it starts: it tries the metadata canary at once and writes what it got.
FIRST_PACKET_CONFIG = f"""
import socket
try:
    socket.create_connection(("{METADATA}", {CANARY_PORT}), timeout=2).close()
    got = "open"
except OSError as error:
    got = error.strerror or type(error).__name__
open(__file__.replace("jupyter_server_config.py", "first-packet.txt"), "w").write(got)
"""


def test_code_that_runs_as_the_server_starts_finds_no_network_before_the_rules(stack, canaries):
    uid = ACCOUNTS["sysfirst"][0]
    config = HOMES / "sysfirst" / ".jupyter"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text(FIRST_PACKET_CONFIG)
    for path in (config, config / "jupyter_server_config.py"):
        os.chown(path, uid, uid)
    record_spawn(approved(stack, "sysfirst").ensure_running())
    # No network yet ("Network is unreachable"), or the rules already ("Connection refused"); never the canary.
    assert (config / "first-packet.txt").read_text() in ("Network is unreachable", "Connection refused")


def test_the_container_is_hardened_and_mounts_only_the_home_and_account_files(stack, alice):
    [container] = stack.user_containers("sysalice")
    host_config = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "2001:2001"
    assert host_config["GroupAdd"] == ["2100"]
    assert (host_config["CapDrop"], host_config["SecurityOpt"], host_config["Privileged"]) == (
        ["ALL"],
        ["no-new-privileges"],
        False,
    )
    assert host_config["PidsLimit"] == 512 and host_config["Memory"] == 2 * 1024**3
    mounts = {(m["Source"], m["Destination"], m["RW"]) for m in container.attrs["Mounts"]}
    assert mounts == {
        (str(HOMES / "sysalice"), "/home/sysalice", True),
        ("/etc/passwd", "/etc/passwd", False),
        ("/etc/group", "/etc/group", False),
    }


def test_another_account_cannot_read_the_home(docker_client):
    with pytest.raises(docker.errors.ContainerError) as refused:
        docker_client.containers.run(
            SYSTEMUSER_IMAGE,
            ["ls", "/homes/sysalice"],
            entrypoint=[],
            user="2002:2002",
            volumes={str(HOMES): {"bind": "/homes", "mode": "ro"}},
            labels={TEST_RUN_LABEL: RUN_ID},
            remove=True,
        )
    assert "Permission denied" in refused.value.stderr.decode()


def test_a_user_without_an_account_gets_a_clear_page(stack):
    ghost = approved(stack, "ghost")
    page = ghost.session.get(f"{stack.url}/hub/spawn", timeout=60)
    assert page.status_code == 403
    assert "There is no account named ghost on this host. Ask an admin to create one." in page.text
    assert stack.user_containers("ghost") == []
    assert ghost.failed_start().startswith("403 There is no account named ghost")


def test_a_stranger_who_signs_up_first_with_a_listed_name_gets_nothing_until_an_admin_approves(stack):
    """A listed name is a host account here: it is never approved just because someone signed up with it."""
    stranger = stack.client_for()
    assert "sent to the admin" in stranger.sign_up("stranger", "a-strangers-own-password")
    refused = stranger.login_response("stranger", "a-strangers-own-password")
    assert refused.status_code == 403
    assert "waits for an admin to approve it" in refused.text
    assert stranger.api("GET", "/user").status_code == 403
    assert stack.user_containers("stranger") == []


def test_a_missing_home_is_a_clear_error_and_nothing_is_created(stack):
    nohome = approved(stack, "nohome")
    reason = nohome.failed_start()
    assert f"The home directory {HOMES}/nohome of nohome does not exist on the host" in reason
    assert "CREATE_HOMES=true" in reason
    assert not (HOMES / "nohome").exists()


# An allowed image whose `install` (what once created homes, as root, with the parent of the homes mounted)
# plants a marker in every folder it can write.
PLANTING_INSTALL = r'#!/bin/sh\nfor d in / /parent /new-home /home/*; do touch "$d/MARKER" 2>/dev/null; done\nexit 0\n'


@pytest.fixture
def planting_image(docker_client):
    name = f"appliance-e2e-planting-{RUN_ID}:latest"
    dockerfile = (
        f"FROM {SYSTEMUSER_IMAGE}\nUSER 0\n"
        f"RUN printf '{PLANTING_INSTALL}' > /usr/bin/install && chmod 0755 /usr/bin/install\n"
        "USER 65534:65534\n"
    )
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=name, rm=True)
    yield name
    docker_client.images.remove(name, force=True)


def test_with_create_homes_the_home_is_made_the_users_own_and_never_by_the_users_image(
    stack_factory, host_accounts, planting_image
):
    stack = system_stack(stack_factory, CREATE_HOMES="true", ALLOWED_IMAGES=planting_image)
    nohome = approved(stack, "nohome")
    record_spawn(nohome.start_server({"image": planting_image}))
    nohome.open_lab()
    assert list(HOMES.rglob("MARKER")) == [], "the user's image ran with the homes' parent mounted"
    assert not Path("/MARKER").exists()
    home = HOMES / "nohome"
    assert (home.stat().st_uid, home.stat().st_gid, oct(home.stat().st_mode & 0o777)) == (2003, 2003, "0o700")
    written = list(home.rglob("*"))
    assert written, "the server wrote nothing into its home"
    assert {path.stat().st_uid for path in written} == {2003}


def test_root_system_accounts_and_accounts_outside_the_group_get_a_clear_page_and_no_container(
    stack_factory, host_accounts
):
    allowed = "sysalice,sysbob,root,daemon"
    stack = system_stack(stack_factory, SYSTEM_USERS_GROUP=GROUP[0], ALLOWED_USERS=allowed)
    refusals = {
        "root": "The host account root has uid 0, below SYSTEM_MIN_UID=1000",
        "daemon": "The host account daemon has uid 1, below SYSTEM_MIN_UID=1000",
        "sysbob": f"The host account sysbob is not in the group {GROUP[0]} (SYSTEM_USERS_GROUP)",
    }
    for name, reason in refusals.items():
        client = approved(stack, name)
        page = client.session.get(f"{stack.url}/hub/spawn", timeout=60)
        assert page.status_code == 403, name
        assert reason in page.text
        assert client.failed_start().startswith(f"403 {reason}")
        assert stack.user_containers(name) == []
    # A member of the group still gets a server.
    record_spawn(approved(stack, "sysalice").ensure_running())
