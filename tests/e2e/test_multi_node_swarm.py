"""SPAWNER_MODE=swarm on three nodes (a manager and two workers, Docker in Docker): placement on labelled workers,
files that follow a user to another node through SWARM_HOMES, and a reservation no node can hold."""

import os
import subprocess

import pytest

from tests.e2e.hub_client import HubClient, swarm_hub_answers, wait_until
from tests.e2e.stack import HUB_IMAGE, MULTI_NODE_SPAWN_SECONDS, ROOT, SINGLEUSER_IMAGE, record_spawn
from tests.e2e.swarm_nodes import HOMES, SwarmNodes

ADMIN_PASSWORD = "multi-node-admin-password-0123456789ab"
USER_PASSWORD = "multi-node-students-password"
PROFILES_DIR = "/srv/e2e-profiles"
PROFILES = "profiles:\n  - {name: standard, default: true}\n  - {name: huge, mem_reservation: 4096G}\n"
STACK = "jupyterhub"
HUB_PORT = 8000


@pytest.fixture(scope="module")
def nodes(docker_client):
    swarm = SwarmNodes(docker_client)
    try:
        yield swarm.up(
            {"manager": [HUB_IMAGE, SINGLEUSER_IMAGE], "worker1": [SINGLEUSER_IMAGE], "worker2": [SINGLEUSER_IMAGE]}
        )
    finally:
        swarm.down()


@pytest.fixture(scope="module")
def hub(nodes, tmp_path_factory) -> str:
    """The stack deployed from this host onto the manager's engine, user servers on workers labelled jupyter=true."""
    for worker in nodes.workers:
        nodes.label(worker, jupyter="true")
    env_file = tmp_path_factory.mktemp("multi-node") / "hub.env"
    env_file.write_text(
        f"ADMIN_PASSWORD={ADMIN_PASSWORD}\nUSER_PASSWORD={USER_PASSWORD}\nALLOWED_USERS=alice,bob\nIDLE_TIMEOUT=0\n"
        "PULL_AHEAD=false\nUSER_NETWORK_ISOLATION=off\nSWARM_PLACEMENT=node.labels.jupyter==true\n"
    )
    nodes.manager.write_file(f"{PROFILES_DIR}/profiles.yml", PROFILES)
    env = {
        **os.environ,
        "DOCKER_HOST": nodes.manager.docker_host,
        "APPLIANCE_ENV_FILE": str(env_file),
        "PROFILES_DIR": PROFILES_DIR,
        "SWARM_HOMES": HOMES,
        # This kernel has no ESP (CONFIG_INET_ESP), so IPsec between nodes cannot carry traffic here.
        "SWARM_OVERLAY": "plain",
    }
    deploy = ["docker", "stack", "deploy", "-c", "compose/swarm.yml", "-c", "compose/swarm-homes.yml", STACK]
    result = subprocess.run(deploy, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    url = f"http://{nodes.manager.address}:{HUB_PORT}"
    wait_until(lambda: swarm_hub_answers(url), "the hub on the manager to answer", seconds=180)
    return url


def task_node(nodes, username: str) -> str:
    [service] = nodes.manager.engine.services.list(filters={"name": f"jupyter-{username}"})
    [task] = service.tasks(filters={"desired-state": "running"})
    return nodes.hostname_of(task["NodeID"])


def test_servers_run_only_on_labelled_workers_and_the_hub_on_the_manager(nodes, hub):
    [hub_task] = nodes.manager.engine.services.get(f"{STACK}_hub").tasks(filters={"desired-state": "running"})
    assert nodes.hostname_of(hub_task["NodeID"]) == "manager"
    placed = set()
    for username in ("alice", "bob"):
        person = HubClient(hub).login(username, USER_PASSWORD)
        record_spawn(person.start_server(), into=MULTI_NODE_SPAWN_SECONDS)
        assert person.open_lab().status_code == 200
        person.create_notebook(f"{username}.ipynb")
        kernel = person.start_kernel(f"{username}.ipynb")
        assert kernel.run("print(6 * 7)") == "42"
        kernel.close()
        placed.add(task_node(nodes, username))
        person.stop_server()
    assert placed <= {"worker1", "worker2"}, placed


def test_a_users_files_follow_them_to_another_node(nodes, hub):
    alice = HubClient(hub).login("alice", USER_PASSWORD)
    record_spawn(alice.start_server(), into=MULTI_NODE_SPAWN_SECONDS)
    first = task_node(nodes, "alice")
    assert alice.open_lab().status_code == 200
    alice.put_file("follows-me.txt", f"written on {first}")
    alice.stop_server()
    # The first node drains: Swarm must place the next server elsewhere.
    [first_node] = [node for node in nodes.workers if node.name.endswith(first)]
    nodes.set_availability(first_node, "drain")
    try:
        record_spawn(alice.start_server(), into=MULTI_NODE_SPAWN_SECONDS)
        second = task_node(nodes, "alice")
        assert alice.open_lab().status_code == 200
        assert second != first and second.startswith("worker"), (first, second)
        assert alice.read_file("follows-me.txt") == f"written on {first}"
        alice.stop_server()
    finally:
        nodes.set_availability(first_node, "active")


def test_a_reservation_no_node_can_hold_fails_at_once_with_swarms_reason(nodes, hub):
    bob = HubClient(hub).login("bob", USER_PASSWORD)
    reason = bob.failed_start({"profile": "huge"})
    assert "Swarm has no node that can run this server (no suitable node (insufficient resources on" in reason
    wait_until(lambda: not nodes.manager.engine.services.list(filters={"name": "jupyter-bob"}), "the service to go")
