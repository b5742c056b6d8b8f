"""User containers are limited and hardened: a fork bomb and a memory hog stay inside their container.

This stack also turns on the read-only root filesystem; test_newcomer checks the defaults.
"""

import pytest
import requests

from harness.compose import HUB_JUPYTERHUB, SINGLEUSER_IMAGE, record_spawn
from harness.credentials import ADMIN_PASSWORD

MEM_LIMIT_BYTES = 512 * 1024**2
PIDS_LIMIT = 128


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MEM_LIMIT": "512M",
            "PIDS_LIMIT": str(PIDS_LIMIT),
            "READ_ONLY_ROOTFS": "true",
        }
    )


@pytest.fixture(scope="module")
def admin(admin):
    """conftest's running admin, with a notebook for the limits' code."""
    admin.create_notebook("limits.ipynb")
    return admin


def test_spawn_progress_reports_each_real_step(stack):
    client = stack.client_for().login("admin", ADMIN_PASSWORD)
    if client.server_url():
        client.stop_server()
    spawn = client.start_server()
    record_spawn(spawn)
    messages = [event["message"] for event in spawn.events]
    steps = (
        "is on this host",
        f"has JupyterHub {HUB_JUPYTERHUB}; the hub has {HUB_JUPYTERHUB}",
        f"Creating container {stack.server_name('admin')}",
        "Starting container",
        "Waiting for the server",
    )
    for step in steps:
        assert any(step in message for message in messages), messages
    assert messages[-1].startswith("Server ready")
    # Two spawns of the same image: it was asked for its JupyterHub version once.
    assert stack.logs().count(f"Asking image {SINGLEUSER_IMAGE} for its JupyterHub version") == 1


def test_host_config_of_a_user_container_is_hardened(stack, admin):
    [container] = stack.user_containers("admin")
    host = container.attrs["HostConfig"]
    assert host["Memory"] == MEM_LIMIT_BYTES
    assert host["CpuQuota"] == 100_000 and host["CpuPeriod"] == 100_000
    assert host["PidsLimit"] == PIDS_LIMIT
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp"}
    mounts = container.attrs["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [
        ("volume", stack.volume_name("admin"), "/home/jovyan")
    ]
    assert not any("docker.sock" in str(m) for m in mounts)
    assert container.attrs["Config"]["User"] == "jovyan"


def test_with_a_read_only_root_only_the_volume_home_and_tmp_are_writable(admin):
    kernel = admin.start_kernel("limits.ipynb")
    printed = kernel.run(
        "import os, tempfile\n"
        "def writable(path):\n"
        "    try:\n"
        "        tempfile.TemporaryFile(dir=path).close(); return 'yes'\n"
        "    except OSError:\n"
        "        return 'no'\n"
        "print(*(writable(p) for p in ('/home/jovyan/work', '/home/jovyan', '/tmp', '/opt/venv', '/etc')))"
    )
    kernel.close()
    assert printed.split() == ["yes", "yes", "yes", "no", "no"]


def test_a_fork_bomb_hits_the_pids_limit_and_the_hub_is_unharmed(stack, admin):
    kernel = admin.start_kernel("limits.ipynb")
    printed = kernel.run(
        "import os, signal, time\n"
        "children = []\n"
        "try:\n"
        "    while True:\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        children.append(pid)\n"
        "except OSError as error:\n"
        "    stopped = type(error).__name__\n"
        "for pid in children:\n"
        "    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n"
        "print(len(children), stopped)"
    )
    forked, stopped_by = printed.split()
    assert 0 < int(forked) < PIDS_LIMIT
    assert stopped_by == "BlockingIOError"
    assert kernel.run("print('still here')") == "still here"
    kernel.close()
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200


def test_a_memory_hog_is_killed_inside_its_container_and_the_server_lives_on(stack, admin):
    kernel = admin.start_kernel("limits.ipynb")
    outcome = kernel.run_until_dead("hog = bytearray(b'x' * (2 * 1024**3))")
    assert outcome in ("dead", "restarting")
    kernel.close()
    [container] = stack.user_containers("admin")
    container.reload()
    assert container.status == "running"
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200
    # A new kernel beside the one jupyter_server is restarting: whether that restarted kernel's
    # first status reaches the server's activity watch is a race inside jupyter_server, not ours.
    fresh = admin.start_kernel("after-the-hog.ipynb")
    assert fresh.id != kernel.id
    assert fresh.run("print(6 * 7)") == "42"
    fresh.close()
