"""SPAWNER_MODE=swarm on a real single-node swarm, deployed with `docker stack deploy -c compose/swarm.yml`.

The swarm is created for the test and left at the end (unless this node was in one already).
"""

import os
import shlex
import subprocess
import threading
import time

import pytest

from tests.e2e.hub_client import HubClient, swarm_hub_answers, wait_until
from tests.e2e.stack import (
    E2E_PREFIX,
    INSTANCE_LABEL,
    ROOT,
    RUN_ID,
    SINGLEUSER_IMAGE,
    SWARM_SPAWN_SECONDS,
    USER_LABEL,
    free_port,
    leftovers_of,
    record_spawn,
)

ADMIN_PASSWORD = "swarm-admin-password-0123456789abcdef"
USER_PASSWORD = "swarm-students-password"
# On loopback, where nothing listens: the node's pull fails at once, and no public registry is asked.
MISSING_IMAGE = f"127.0.0.1:9/appliance-e2e/not-on-any-node:{RUN_ID}"
NOTEBOOK = "swarm.ipynb"
PROFILES = f"""\
profiles:
  - {{name: standard, default: true}}
  - {{name: elsewhere, image: "{MISSING_IMAGE}"}}
  - {{name: gpu, gpus: 1, placement: [node.role==manager]}}
"""


def docker_cli(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(["docker", *args], cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def documented_deploy(stack_name: str) -> list[str]:
    """The `docker stack deploy` line of docs/swarm.md's recipe, for another stack name."""
    page = (ROOT / "docs" / "swarm.md").read_text()
    (line,) = [line for line in page.splitlines() if line.startswith("docker stack deploy ")]
    command = shlex.split(line, comments=True)
    assert command[:3] == ["docker", "stack", "deploy"], line
    return [*command[:-1], stack_name]


@pytest.fixture(scope="module")
def swarm(docker_client):
    """A single-node swarm on loopback; left afterwards only if the test created it."""
    created = docker_client.info()["Swarm"]["LocalNodeState"] != "active"
    if created:
        docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    yield
    if created:
        docker_cli("swarm", "leave", "--force")


class SwarmStack:
    def __init__(self, client, tmp_dir):
        self.client = client
        self.name = f"{E2E_PREFIX}{RUN_ID}-swarm"
        self.url = f"http://127.0.0.1:{free_port()}"
        env_file = tmp_dir / "swarm.env"
        env_file.write_text(
            f"ADMIN_PASSWORD={ADMIN_PASSWORD}\nUSER_PASSWORD={USER_PASSWORD}\nALLOWED_USERS=bob\nIDLE_TIMEOUT=0\n"
            # The image missing on every node is to stay missing: nothing is pulled at hub start.
            "PULL_AHEAD=false\n"
            # Swarm servers cannot be firewalled by the appliance; the admin says so explicitly.
            "USER_NETWORK_ISOLATION=off\n"
        )
        (tmp_dir / "profiles.yml").write_text(PROFILES)
        self.env = {
            **os.environ,
            "PROFILES_DIR": str(tmp_dir),
            "APPLIANCE_ENV_FILE": str(env_file),
            "APPLIANCE_INSTANCE": self.name,
            "DOCKER_NETWORK": self.name,
            "HUB_PORT": self.url.rsplit(":", 1)[1],
        }

    def deploy(self) -> "SwarmStack":
        docker_cli(*documented_deploy(self.name)[1:], env=self.env)
        wait_until(self.answers, f"the swarm hub of {self.name} to answer", seconds=120)
        return self

    def answers(self) -> bool:
        tasks = docker_cli("stack", "ps", self.name, "--format", "{{.CurrentState}} {{.Error}}")
        if "Failed" in tasks or "Rejected" in tasks:
            pytest.fail(f"the hub task failed: {tasks}\n{self.logs()}")
        return swarm_hub_answers(self.url)

    def logs(self) -> str:
        """The logs of every hub task's container, oldest first (`docker service logs` can hang on restarts)."""
        label = f"com.docker.swarm.service.name={self.name}_hub"
        tasks = self.client.containers.list(all=True, filters={"label": label})
        tasks.sort(key=lambda container: container.attrs["Created"])
        return "".join(container.logs().decode(errors="replace") for container in tasks)

    def user_services(self, username: str | None = None):
        labels = [f"{INSTANCE_LABEL}={self.name}"] + ([f"{USER_LABEL}={username}"] if username else [])
        return self.client.services.list(filters={"label": labels})

    def user_volumes(self):
        return self.client.volumes.list(filters={"label": f"{INSTANCE_LABEL}={self.name}"})

    def remove(self) -> None:
        """Remove user services, the stack, then (once its containers are gone) every volume."""
        for service in self.user_services():
            service.remove()
        subprocess.run(["docker", "stack", "rm", self.name], capture_output=True, check=False)

        def gone() -> bool:
            containers = self.client.containers.list(
                all=True, filters={"label": f"{INSTANCE_LABEL}={self.name}"}, ignore_removed=True
            )
            stack = self.client.containers.list(
                all=True, filters={"label": f"com.docker.stack.namespace={self.name}"}, ignore_removed=True
            )
            return not containers and not stack and not self.client.networks.list(names=[self.name])

        wait_until(gone, f"the containers and network of {self.name} to go", seconds=90)
        for volume in [*self.user_volumes(), *self.client.volumes.list(filters={"name": f"{self.name}_hub-data"})]:
            volume.remove(force=True)
        leftovers = leftovers_of(self.client, self.name)
        assert not leftovers, f"{self.name} left these behind: {leftovers}"


@pytest.fixture(scope="module")
def stack(swarm, docker_client, tmp_path_factory):
    deployed = SwarmStack(docker_client, tmp_path_factory.mktemp("swarm"))
    try:
        yield deployed.deploy()
    finally:
        deployed.remove()


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
        "Creating service jupyter-admin",
        "created; waiting for Swarm",
        "Task scheduled on node",
        "Task running",
    ):
        assert any(step in message for message in messages), (step, messages)

    [service] = stack.user_services("admin")
    assert service.name == "jupyter-admin"
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
    assert "jupyterhub-user-admin" in [volume.name for volume in stack.user_volumes()]

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
    assert {service.name for service in stack.user_services()} == {"jupyter-admin", "jupyter-bob"}
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
    [logged] = [line for line in stack.logs().splitlines() if "No node can run the service jupyter-bob" in line]
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
