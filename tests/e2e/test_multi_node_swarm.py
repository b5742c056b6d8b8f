"""SPAWNER_MODE=swarm on three nodes (a manager and two workers, Docker in Docker): placement on labelled workers,
each user's server on the worker their profile's placement names, files that follow a user to another node
through SWARM_HOMES, a reservation no node can hold, an image only the manager has, an image pulled ahead on every
worker, a worker drained under a running server, and a worker killed under one (the last test: that node stays
down)."""

import pytest

from appliance.image_pulls import present
from appliance.labels import LABEL_PULL_AHEAD
from harness.compose import HUB_IMAGE, MULTI_NODE_SPAWN_SECONDS, RUN_ID, SINGLEUSER_IMAGE, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, HubClientError, wait_until
from harness.multi_node import NODES_REGISTRY, MultiNodeHub, SwarmNodes
from tests.e2e.registry import push

# Tagged on the manager only; a worker's pull goes to its own loopback, where nothing listens.
MANAGER_ONLY_IMAGE = f"127.0.0.1:9/appliance-e2e/manager-only:{RUN_ID}"
# In the run's registry, which the nodes reach at NODES_REGISTRY; only the pull ahead brings it to the workers.
PULLED_REPOSITORY = f"appliance-e2e/pulled-ahead-{RUN_ID}"
PULLED_IMAGE = f"{NODES_REGISTRY}/{PULLED_REPOSITORY}:1"
PROFILES = f"""\
profiles:
  - {{name: standard, default: true}}
  - {{name: zone-a, placement: ["node.labels.zone==a"]}}
  - {{name: zone-b, placement: ["node.labels.zone==b"]}}
  - {{name: huge, mem_reservation: 4096G}}
  - {{name: manager-only, image: "{MANAGER_ONLY_IMAGE}"}}
  - {{name: pulled-ahead, image: "{PULLED_IMAGE}"}}
"""
# JupyterHub reuses a user's last options when a start names none, so every start here names its profile.
STANDARD = {"profile": "standard"}


@pytest.fixture(scope="module")
def nodes(docker_client, registry_server):
    swarm = SwarmNodes(docker_client, registry=registry_server)
    try:
        yield swarm.up(
            {"manager": [HUB_IMAGE, SINGLEUSER_IMAGE], "worker1": [SINGLEUSER_IMAGE], "worker2": [SINGLEUSER_IMAGE]}
        )
    finally:
        swarm.down()


@pytest.fixture(scope="module")
def pulled_image(docker_client, local_registry) -> None:
    """The user image in the run's registry, pushed from this host, as PULLED_IMAGE; no node has it yet."""
    pushed = f"{local_registry}/{PULLED_REPOSITORY}"
    docker_client.images.get(SINGLEUSER_IMAGE).tag(pushed, "1")
    try:
        push(docker_client, f"{pushed}:1")
    finally:
        docker_client.images.remove(f"{pushed}:1")


@pytest.fixture(scope="module")
def hub(nodes, pulled_image, tmp_path_factory):
    """The stack deployed from this host onto the manager's engine, user servers on workers labelled jupyter=true."""
    for worker, zone in zip(nodes.workers, "ab", strict=True):
        nodes.label(worker, jupyter="true", zone=zone)
    repository, tag = MANAGER_ONLY_IMAGE.rsplit(":", 1)
    nodes.manager.engine.images.get(SINGLEUSER_IMAGE).tag(repository, tag)
    settings = {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "USER_PASSWORD": USER_PASSWORD,
        "ALLOWED_USERS": "alice,bob",
        "IDLE_TIMEOUT": "0",
        "SWARM_PLACEMENT": "node.labels.jupyter==true",
    }
    deployed = MultiNodeHub(nodes, tmp_path_factory.mktemp("multi-node"), settings, PROFILES)
    try:
        yield deployed.deploy()
    finally:
        deployed.down()


def running_task(hub: MultiNodeHub, username: str) -> dict:
    [service] = hub.user_servers(username)
    [task] = service.tasks(filters={"desired-state": "running"})
    return task


def task_node(hub: MultiNodeHub, username: str) -> str:
    return hub.nodes.hostname_of(running_task(hub, username)["NodeID"])


def starts_elsewhere_with_the_file(person: HubClient, hub: MultiNodeHub, first: str, path: str, text: str) -> None:
    """The next start runs on another worker, finds the file written on the first, and runs code."""
    record_spawn(person.start_server(STANDARD), into=MULTI_NODE_SPAWN_SECONDS)
    second = task_node(hub, person.username)
    assert second != first and second.startswith("worker"), (first, second)
    assert person.open_lab().status_code == 200
    assert person.read_file(path) == text
    assert person.run_once("print(6 * 7)") == "42"
    person.stop_server()


def test_servers_run_only_on_labelled_workers_each_per_its_profiles_placement_and_the_hub_on_the_manager(nodes, hub):
    [hub_task] = nodes.manager.engine.services.get(f"{MultiNodeHub.STACK}_hub").tasks(
        filters={"desired-state": "running"}
    )
    assert nodes.hostname_of(hub_task["NodeID"]) == "manager"
    people = {"alice": ("zone-a", "worker1"), "bob": ("zone-b", "worker2")}
    running = []
    for username, (profile, _) in people.items():
        person = hub.client_for().login(username, USER_PASSWORD)
        record_spawn(person.start_server({"profile": profile}), into=MULTI_NODE_SPAWN_SECONDS)
        running.append(person)
    # Both servers run at once, each on the worker its profile's placement names.
    assert {username: task_node(hub, username) for username in people} == {
        username: worker for username, (_, worker) in people.items()
    }
    for person in running:
        assert person.open_lab().status_code == 200
        person.create_notebook(f"{person.username}.ipynb")
        kernel = person.start_kernel(f"{person.username}.ipynb")
        assert kernel.run("print(6 * 7)") == "42"
        kernel.close()
    for person in running:
        person.stop_server()


def test_a_users_files_follow_them_to_another_node(nodes, hub):
    alice = hub.client_for().login("alice", USER_PASSWORD)
    record_spawn(alice.start_server(STANDARD), into=MULTI_NODE_SPAWN_SECONDS)
    first = task_node(hub, "alice")
    assert alice.open_lab().status_code == 200
    alice.put_file("follows-me.txt", f"written on {first}")
    alice.stop_server()
    # The first node drains: Swarm must place the next server elsewhere.
    first_node = nodes.with_hostname(first)
    nodes.set_availability(first_node, "drain")
    try:
        starts_elsewhere_with_the_file(alice, hub, first, "follows-me.txt", f"written on {first}")
    finally:
        nodes.set_availability(first_node, "active")


def test_a_reservation_no_node_can_hold_fails_at_once_with_swarms_reason(nodes, hub):
    bob = hub.client_for().login("bob", USER_PASSWORD)
    reason = bob.failed_start({"profile": "huge"})
    assert "Swarm has no node that can run this server (no suitable node (insufficient resources on" in reason
    wait_until(lambda: not hub.user_servers("bob"), "the service to go")


def test_an_image_only_the_manager_has_is_the_appliances_message_from_the_worker_swarm_chose(nodes, hub):
    bob = hub.client_for().login("bob", USER_PASSWORD)
    reason = bob.failed_start({"profile": "manager-only"})
    assert f"Image {MANAGER_ONLY_IMAGE} is not on the node Swarm chose" in reason, reason
    assert "build or pull it there, or use a registry" in reason
    wait_until(lambda: not hub.user_servers("bob"), "the failed service to be removed")


def test_an_image_pulled_ahead_on_every_worker_starts_there_with_the_registry_gone(nodes, hub):
    pulled = f"[appliance pull-ahead] Pulled {PULLED_IMAGE} on worker1, worker2"
    try:
        wait_until(lambda: pulled in hub.logs(), "the pull ahead on the workers", seconds=240)
    except HubClientError:
        pytest.fail("\n".join(line for line in hub.logs().splitlines() if "pull-ahead" in line))
    assert all(present(worker.engine, PULLED_IMAGE) for worker in nodes.workers)
    logs = hub.logs()
    for worker in ("worker1", "worker2"):
        assert f"Pulling {MANAGER_ONLY_IMAGE} on {worker} failed: " in logs, "no registry has it"
    assert not nodes.manager.engine.services.list(filters={"label": LABEL_PULL_AHEAD}), "the pull jobs are removed"
    nodes.take_back_registry()
    bob = hub.client_for().login("bob", USER_PASSWORD)
    record_spawn(bob.start_server({"profile": "pulled-ahead"}), into=MULTI_NODE_SPAWN_SECONDS)
    assert task_node(hub, "bob").startswith("worker")
    assert bob.open_lab().status_code == 200
    assert bob.run_once("print(6 * 7)") == "42"
    bob.stop_server()


def test_a_worker_drained_under_a_running_server_stops_it_and_the_next_start_runs_elsewhere(nodes, hub):
    bob = hub.client_for().login("bob", USER_PASSWORD)
    record_spawn(bob.start_server(STANDARD), into=MULTI_NODE_SPAWN_SECONDS)
    assert bob.open_lab().status_code == 200
    [service] = hub.user_servers("bob")
    assert service.attrs["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "none", "the hub restarts, not Swarm"
    first = task_node(hub, "bob")
    bob.put_file("drained.txt", f"written on {first}")
    first_node = nodes.with_hostname(first)
    nodes.set_availability(first_node, "drain")
    try:
        # JupyterHub polls each server every 30 s: it sees the task Swarm shut down, and removes the service.
        wait_until(lambda: bob.server_model() is None, "the hub to see the drained server stopped", seconds=120)
        wait_until(lambda: not hub.user_servers("bob"), "the drained server's service to be removed")
        starts_elsewhere_with_the_file(bob, hub, first, "drained.txt", f"written on {first}")
    finally:
        nodes.set_availability(first_node, "active")


def test_a_killed_worker_is_noticed_its_lost_task_reported_and_the_user_starts_again_elsewhere(nodes, hub):
    alice = hub.client_for().login("alice", USER_PASSWORD)
    record_spawn(alice.start_server(STANDARD), into=MULTI_NODE_SPAWN_SECONDS)
    task = running_task(hub, "alice")
    first = nodes.hostname_of(task["NodeID"])
    assert alice.open_lab().status_code == 200
    alice.put_file("before-the-crash.txt", f"written on {first}")
    nodes.with_hostname(first).kill()
    service = hub.server_name("alice")
    report = f"Lost task {task['ID']} of service {service} (user 'alice', server ''): its node {first} is down."
    # Swarm marks the silent node down within about 15 s; the reconcile service looks every 15 s.
    wait_until(lambda: report in hub.logs(), "the reconcile service to report the lost task", seconds=120)
    wait_until(lambda: alice.server_model() is None, "the hub to mark the lost server stopped")
    starts_elsewhere_with_the_file(alice, hub, first, "before-the-crash.txt", f"written on {first}")
