"""An admin's own image: one that starts as docker-stacks images do runs under the appliance's hardening,
with the read-only root too, and one built for another JupyterHub is refused with the tag to use."""

import io

import pytest

from appliance.images import pinned_tag
from harness.compose import HUB_JUPYTERHUB, ROOT, RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import wait_until

STACKS_IMAGE = f"appliance-e2e-stacks:{RUN_ID}"
OLD_STACKS_IMAGE = f"appliance-e2e-stacks-jupyterhub5:{RUN_ID}"
OLD_JUPYTERHUB = "5.4.6"


@pytest.fixture(scope="module")
def stacks_images(docker_client):
    """The docker-stacks-style image, and one FROM it with an older JupyterHub (as a floating tag may bring)."""
    docker_client.images.build(
        path=str(ROOT / "tests" / "e2e" / "docker_stacks"),
        tag=STACKS_IMAGE,
        buildargs={"BASE": SINGLEUSER_IMAGE},
        labels={TEST_RUN_LABEL: RUN_ID},
        rm=True,
    )
    older = f"FROM {STACKS_IMAGE}\nRUN pip install --no-deps jupyterhub=={OLD_JUPYTERHUB}\n"
    docker_client.images.build(fileobj=io.BytesIO(older.encode()), tag=OLD_STACKS_IMAGE, rm=True)
    yield
    for tag in (OLD_STACKS_IMAGE, STACKS_IMAGE):
        docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def stack(stacks_images, stack_factory):
    return stack_factory(
        {"ADMIN_PASSWORD": ADMIN_PASSWORD, "SINGLEUSER_IMAGE": STACKS_IMAGE, "ALLOWED_IMAGES": OLD_STACKS_IMAGE}
    )


@pytest.fixture(scope="module")
def admin(stack):
    return stack.client_for().login("admin", ADMIN_PASSWORD)


def started_the_docker_stacks_way(stack) -> str:
    [container] = stack.user_containers("admin")
    assert container.attrs["Config"]["Entrypoint"] == ["tini", "-g", "--", "start.sh"]
    logs = container.logs().decode(errors="replace")
    for step in (
        "Entered start.sh with args: start-notebook.py",
        "before-notebook hook ran as 1000:100",
        "Executing: /usr/local/bin/start-singleuser.py",
        "Executing: jupyterhub-singleuser",
    ):
        assert step in logs, logs
    return logs


def test_a_docker_stacks_style_image_runs_hardened_as_1000_100_and_keeps_files(stack, admin):
    record_spawn(admin.ensure_running())
    started_the_docker_stacks_way(stack)
    printed = admin.run_once("import subprocess; print(subprocess.run(['id'], capture_output=True, text=True).stdout)")
    assert printed == "uid=1000(jovyan) gid=100(users) groups=100(users)"
    [container] = stack.user_containers("admin")
    assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert container.attrs["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    assert admin.run_once("import os; print(os.getcwd())") == "/home/jovyan", "Lab opens in the image's WORKDIR"
    admin.put_file("kept.txt", "in the volume")
    admin.stop_server()
    record_spawn(admin.ensure_running())
    assert admin.read_file("kept.txt") == "in the volume"


def test_the_same_image_runs_with_a_read_only_root(stack, admin):
    admin.stop_server()
    stack.change_env(READ_ONLY_ROOTFS="true")
    stack.run_compose("up", "-d")
    stack.wait_healthy()
    record_spawn(admin.ensure_running())
    started_the_docker_stacks_way(stack)
    [container] = stack.user_containers("admin")
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    printed = admin.run_once(
        "import os\ntry:\n    open('/opt/conda/new.txt', 'w')\nexcept OSError as error:\n    print(error.errno)\n"
        "print(open(os.path.expanduser('~/kept.txt')).read())",
        notebook="read-only.ipynb",
    )
    assert printed.splitlines() == ["30", "in the volume"], "EROFS in /opt/conda; the volume is as it was"
    admin.stop_server()


def test_a_docker_stacks_image_for_another_jupyterhub_is_refused_with_its_pinned_tag(stack, admin):
    reason = admin.failed_start({"image": OLD_STACKS_IMAGE})
    assert f"Image {OLD_STACKS_IMAGE} has JupyterHub {OLD_JUPYTERHUB}, but this hub runs JupyterHub" in reason
    assert f"use its tag pinned to this hub's JupyterHub, {pinned_tag(OLD_STACKS_IMAGE, HUB_JUPYTERHUB)}" in reason
    assert reason.startswith("409 "), "a conflict between the image and the hub, not a server error"
    wait_until(lambda: not stack.user_containers("admin"), "no server of the refused image")
