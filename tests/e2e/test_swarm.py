"""SPAWNER_MODE=swarm on a real single-node swarm, deployed with `docker stack deploy -c compose/swarm.yml`.

The swarm is created for the test and left at the end (unless this node was in one already).
"""

import threading
import time

import pytest

from harness.compose import (
    INSTANCE_LABEL,
    RUN_ID,
    SINGLEUSER_IMAGE,
    SWARM_SPAWN_SECONDS,
    USER_LABEL,
    record_spawn,
)
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from harness.swarm import SwarmStack, docker_cli

# On loopback, where nothing listens: the node's pull fails at once, and no public registry is asked.
MISSING_IMAGE = f"127.0.0.1:9/appliance-e2e/not-on-any-node:{RUN_ID}"
NOTEBOOK = "swarm.ipynb"
PROFILES = f"""\
profiles:
  - {{name: standard, default: true}}
  - {{name: elsewhere, image: "{MISSING_IMAGE}"}}
  - {{name: gpu, gpus: 1, placement: [node.role==manager]}}
"""


@pytest.fixture(scope="module")
def stack(swarm, docker_client, tmp_path_factory):
    settings = {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "USER_PASSWORD": USER_PASSWORD,
        "ALLOWED_USERS": "bob",
        "IDLE_TIMEOUT": "0",
        # The image missing on every node is to stay missing: nothing is pulled at hub start.
        "PULL_AHEAD": "false",
    }
    deployed = SwarmStack(docker_client, tmp_path_factory.mktemp("swarm"), settings, PROFILES)
    try:
        yield deployed.deploy()
    finally:
        deployed.down()


@pytest.fixture(scope="module")
def admin(stack) -> HubClient:
    return HubClient(stack.url).login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def bob(stack) -> HubClient:
    return HubClient(stack.url).login("bob", USER_PASSWORD)


def test_a_server_is_a_swarm_service_that_reports_each_step_and_runs_code(stack, admin, docker_client):
    spawn = admin.start_server()
    record_spawn(spawn, into=SWARM_SPAWN_SECONDS)
    messages = [event.get("message", "") for event in spawn.events]
    for step in (
        f"Creating service {stack.server_name('admin')}",
        "created; waiting for Swarm",
        "Task scheduled on node",
        "Task running",
    ):
        assert any(step in message for message in messages), (step, messages)

    [service] = stack.user_services("admin")
    assert service.name == stack.server_name("admin")
    assert service.attrs["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    container_spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container_spec["CapabilityDrop"] == ["ALL"]
    assert service.attrs["Spec"]["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 2 * 1024**3

    assert admin.open_lab().status_code == 200
    admin.create_notebook(NOTEBOOK)
    kernel = admin.start_kernel(NOTEBOOK)
    printed = kernel.run("import os, socket; print(os.getuid(), socket.gethostname())")
    kernel.close()
    [task] = service.tasks(filters={"desired-state": "running"})
    assert printed == f"1000 {task['Status']['ContainerStatus']['ContainerID'][:12]}"
    # The overlay between nodes is encrypted by default.
    assert "encrypted" in docker_client.networks.get(stack.name).attrs["Options"]
    # The pids limit reaches the task's container: the engine applied it, not only the spec.
    assert service.attrs["Spec"]["TaskTemplate"]["Resources"]["Limits"]["Pids"] == 512
    task_container = docker_client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
    assert task_container.attrs["HostConfig"]["PidsLimit"] == 512


def test_stopping_removes_the_service_and_keeps_the_volume_then_a_restart_finds_the_file(stack, admin):
    record_spawn(admin.ensure_running(), into=SWARM_SPAWN_SECONDS)
    admin.put_file("on-the-volume.txt", "survives the service")
    admin.stop_server()
    wait_until(lambda: not stack.user_services("admin"), "the service to be removed")
    assert stack.volume_name("admin") in [volume.name for volume in stack.user_volumes()]

    # A second spawn of the same user: a new task at a new address (the trap of the service name).
    record_spawn(admin.start_server(), into=SWARM_SPAWN_SECONDS)
    assert admin.open_lab().status_code == 200
    assert admin.read_file("on-the-volume.txt") == "survives the service"


def test_two_users_start_at_once(stack, admin, bob):
    if admin.server_model():
        admin.stop_server()
    spawns = {}

    def start(person):
        spawns[person.username] = person.start_server()

    threads = [threading.Thread(target=start, args=(person,)) for person in (admin, bob)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert set(spawns) == {"admin", "bob"}, f"not both started within {time.monotonic() - started:.0f} s"
    for spawn in spawns.values():
        record_spawn(spawn, into=SWARM_SPAWN_SECONDS)
    assert {service.name for service in stack.user_services()} == {stack.server_name("admin"), stack.server_name("bob")}
    assert bob.open_lab().status_code == 200 and admin.open_lab().status_code == 200


def test_an_image_missing_on_the_node_is_a_clear_message_not_a_timeout(stack, bob):
    if bob.server_model():
        bob.stop_server()
    started = time.monotonic()
    reason = bob.failed_start({"image": MISSING_IMAGE})
    assert f"Image {MISSING_IMAGE} is not on the node Swarm chose" in reason
    assert "build or pull it there, or use a registry" in reason
    assert time.monotonic() - started < 60
    wait_until(lambda: not stack.user_services("bob"), "the failed service to be removed")


def test_a_profile_no_node_can_hold_fails_at_once_with_swarms_reason(stack, bob):
    if bob.server_model():
        bob.stop_server()
    started = time.monotonic()
    reason = bob.failed_start({"profile": "gpu"})
    assert "Swarm has no node that can run this server (no suitable node (insufficient resources on 1 node))" in reason
    assert time.monotonic() - started < 30
    unplaceable = f"No node can run the service {stack.server_name('bob')}"
    [logged] = [line for line in stack.logs().splitlines() if unplaceable in line]
    assert "'GenericResources': [{'DiscreteResourceSpec': {'Kind': 'NVIDIA-GPU', 'Value': 1}}]" in logged, logged
    wait_until(lambda: not stack.user_services("bob"), "the unplaceable service to be removed")


def test_an_unknown_labelled_service_is_reported_when_the_hub_restarts(stack, docker_client):
    labels = {INSTANCE_LABEL: stack.name, USER_LABEL: "ghost", "jupyterhub-appliance.server": ""}
    stray = docker_client.services.create(SINGLEUSER_IMAGE, ["sleep", "600"], name=f"{stack.name}-stray", labels=labels)
    docker_cli("service", "update", "--force", "--detach", f"{stack.name}_hub")
    report = f"Service {stray.name} (user 'ghost', server '', service) carries this appliance's labels"
    wait_until(lambda: report in stack.logs(), "the restarted hub's reconcile pass to report the stray service")
    assert stray.name in [service.name for service in stack.user_services()], "reported, not removed"


def test_the_doctor_finds_the_hub_on_a_swarm_manager(stack, docker_client):
    label = f"com.docker.swarm.service.name={stack.name}_hub"
    [hub] = docker_client.containers.list(filters={"label": label})
    report = hub.exec_run(["appliance", "doctor"]).output.decode()
    [line] = [line for line in report.splitlines() if line.startswith("swarm mode")]
    assert "PASS  a manager of a swarm of 1 node(s), 1 manager(s)" in line, report
