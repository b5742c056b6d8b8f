"""A compose stack of the repository's own docker-compose.yml, and the labels the e2e tests sweep by."""

import contextlib
import os
import re
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import jupyterhub
import pytest
import requests

# Ryuk's image cannot be pulled without a registry; these tests sweep by label themselves.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
from testcontainers.compose import DockerCompose

from appliance.images import DEFAULT_REGISTRY, KINDS, image_name
from harness.hub_client import HubClient, wait_until

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
BASE_IMAGE = os.environ.get("BASE_IMAGE", "debian:bookworm-slim")
# The images `make images` built, under the names compose uses (IMAGE_REGISTRY as make was given it).
HUB_IMAGE, SINGLEUSER_IMAGE, SYSTEMUSER_IMAGE, POSTGRES_IMAGE = (
    image_name(kind, os.environ.get("IMAGE_REGISTRY") or DEFAULT_REGISTRY) for kind in KINDS
)
# The images install the same JupyterHub as this test environment: every lock comes from `make lock`.
HUB_JUPYTERHUB = jupyterhub.__version__
HUB_JUPYTERHUB_MAJOR = HUB_JUPYTERHUB.split(".")[0]
INSTANCE_LABEL = "jupyterhub-appliance.instance"
USER_LABEL = "jupyterhub-appliance.user"
HELPER_FOR_LABEL = "jupyterhub-appliance.helper-for"
PROJECT_LABEL = "com.docker.compose.project"
# What `docker stack deploy` labels a stack's own volumes and networks with.
STACK_LABEL = "com.docker.stack.namespace"
TEST_RUN_LABEL = "jupyterhub-appliance.e2e-run"
RUN_ID = uuid.uuid4().hex[:8]
ANY_RUN = "*"
E2E_PREFIX = "appliance-e2e-"
SPAWN_SECONDS: list[float] = []
SWARM_SPAWN_SECONDS: list[float] = []
MULTI_NODE_SPAWN_SECONDS: list[float] = []


def server_name(instance: str, username: str, server: str = "") -> str:
    """A new install's (CONTAINER_NAMES=instance) container, or swarm service, of a user's server."""
    return f"jupyter-{instance}-{username}" + (f"--{server}" if server else "")


def volume_name(instance: str, username: str, server: str = "") -> str:
    """A new install's volume of a user's server."""
    return f"{instance}-user-{username}" + (f"--{server}" if server else "")


def leftover_objects(client, name_prefix: str, run_id: str | None = None) -> list:
    """Containers, volumes and networks whose instance, compose project or swarm stack starts with name_prefix,
    and those labelled as made by the e2e run run_id (helpers such as a registry or a fake GitHub;
    ANY_RUN: by any run; None: none of them)."""

    def ours(labels) -> bool:
        values = [(labels or {}).get(key, "") for key in (INSTANCE_LABEL, PROJECT_LABEL, STACK_LABEL)]
        made_by = (labels or {}).get(TEST_RUN_LABEL)
        made_by_run = made_by is not None and run_id in (made_by, ANY_RUN)
        return any(value.startswith(name_prefix) for value in values) or made_by_run

    found = [c for c in client.containers.list(all=True) if ours(c.labels)]
    found += [v for v in client.volumes.list() if ours(v.attrs.get("Labels"))]
    found += [n for n in client.networks.list() if ours(n.attrs.get("Labels"))]
    if client.info()["Swarm"]["ControlAvailable"]:
        found += [s for s in client.services.list() if ours(s.attrs["Spec"].get("Labels"))]
    return found


def leftovers_of(client, name_prefix: str, run_id: str | None = None) -> list[str]:
    return [f"{type(thing).__name__.lower()} {thing.name}" for thing in leftover_objects(client, name_prefix, run_id)]


def sweep_earlier_runs(client) -> list[str]:
    """Remove what an interrupted earlier e2e run left behind: only objects labelled as e2e stacks."""
    swept = []
    for thing in leftover_objects(client, E2E_PREFIX, run_id=ANY_RUN):
        thing.remove(**({} if type(thing).__name__ == "Network" else {"force": True}))
        swept.append(f"{type(thing).__name__.lower()} {thing.name}")
    return swept


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """One compose project of a docker-compose.yml (plus overlays), with env overrides; by default this repository's.

    `url` and `ca_file` say how tests reach the hub when an overlay changes that (HTTPS);
    `before_start` runs once the project's network and containers exist, before anything starts.
    """

    def __init__(
        self,
        client,
        tmp_dir: Path,
        env: dict[str, str],
        overlays: tuple[str, ...] = (),
        url: str = "",
        ca_file: str | None = None,
        before_start: Callable[["Stack"], None] | None = None,
        root: Path = ROOT,
    ):
        self.client = client
        self.project = f"{E2E_PREFIX}{RUN_ID}-{uuid.uuid4().hex[:4]}"
        # Compose names the network after the project unless DOCKER_NETWORK says otherwise.
        self.network = env.get("DOCKER_NETWORK") or self.project
        self.port = int(env.get("HUB_PORT") or free_port())
        self.url = url or f"http://127.0.0.1:{self.port}"
        self.ca_file = ca_file
        self.before_start = before_start
        self.env_file = env_file = tmp_dir / f"{self.project}.env"
        compose_env = {
            "COMPOSE_PROJECT_NAME": self.project,
            "HUB_PORT": str(self.port),
            "APPLIANCE_ENV_FILE": str(env_file),
        }
        env_file.write_text(env_lines({**compose_env, **env}))
        self.overlays = (*overlays, *recording_overlay())
        self.switch_root(root)

    def switch_root(self, root: Path) -> None:
        """Use the compose files of another source tree (another release) for this same project."""
        self.root = root
        self.compose = DockerCompose(
            root, compose_file_name=["docker-compose.yml", *self.overlays], env_file=str(self.env_file), wait=False
        )

    def change_env(self, **values: str) -> None:
        """Change settings in the env file; the next `docker compose up -d` recreates the hub with them."""
        with self.env_file.open("a") as env_file:
            env_file.write(env_lines(values))

    def up(self, healthy: bool) -> "Stack":
        if self.before_start:
            self.run_compose("up", "--no-start")
            self.before_start(self)
        self.compose.start()
        if healthy:
            self.wait_healthy()
        return self

    def compose_result(self, *args: str, binary_input: bytes | None = None) -> subprocess.CompletedProcess:
        """Run `docker compose …`; output is text, or bytes when binary_input is given (even empty)."""
        command = [*self.compose.compose_command_property, *args]
        text = binary_input is None
        return subprocess.run(command, cwd=self.root, capture_output=True, text=text, input=binary_input, check=False)

    def run_compose(self, *args: str) -> str:
        result = self.compose_result(*args)
        assert result.returncode == 0, f"docker compose {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    def hub_container(self):
        return self.service_container("hub")

    def service_container(self, service: str):
        return self.client.containers.get(self.compose.get_container(service, include_all=True).ID)

    def logs(self) -> str:
        return self.run_compose("logs", "--no-color", "hub")

    def wait_healthy(self) -> None:
        def answers():
            container = self.hub_container()
            if container.status == "exited":
                pytest.fail(f"the hub exited:\n{self.logs()}")
            try:
                return requests.get(f"{self.url}/hub/health", timeout=2, verify=self.ca_file or True).ok
            except requests.RequestException:
                return False

        wait_until(answers, f"the hub of {self.project} to answer /hub/health", seconds=120)

    def read_in_hub(self, path: str, first_bytes: int | None = None) -> str:
        """A text file in the hub container, stripped; or only its first bytes."""
        command = ["head", "-c", str(first_bytes)] if first_bytes else ["cat"]
        return self.run_compose("exec", "-T", "hub", *command, path).strip()

    def read_secret(self, name: str) -> str:
        return self.read_in_hub(f"/data/secrets/{name}")

    def user_containers(self, username: str | None = None):
        """The stack's user containers; one the hub removes between the list and its inspection is left out."""
        labels = [f"{INSTANCE_LABEL}={self.project}"] + ([f"{USER_LABEL}={username}"] if username else [])
        return self.client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)

    def user_servers(self, username: str | None = None) -> list:
        return self.user_containers(username)

    def user_volumes(self):
        return self.client.volumes.list(filters={"label": f"{INSTANCE_LABEL}={self.project}"})

    def server_name(self, username: str, server: str = "") -> str:
        return server_name(self.project, username, server)

    def volume_name(self, username: str, server: str = "") -> str:
        return volume_name(self.project, username, server)

    def client_for(self) -> HubClient:
        return HubClient(self.url, ca_file=self.ca_file)

    def down(self) -> None:
        """Remove the stack, the user containers it spawned and the test's user volumes, then check.

        A container or volume may go between listing and removing it (the hub removes a server's container
        once it stops); one already gone is what this wants. The hub stops first, so that nothing it runs (a
        scheduled backup's helper, say) makes a container after the sweep."""
        self.compose_result("stop", "hub")
        for container in self.user_containers():
            with contextlib.suppress(docker.errors.NotFound):
                remove_unless_being_removed(container)
        self.compose.stop(down=True)
        for volume in self.user_volumes():
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)
        # A network of this project that its compose file no longer names (an upgrade renamed it) stays
        # for the admin to remove; the test removes it.
        for network in self.client.networks.list(filters={"label": f"{PROJECT_LABEL}={self.project}"}):
            network.remove()
        leftovers = leftovers_of(self.client, self.project)
        assert not leftovers, f"{self.project} left these behind: {leftovers}"


def recording_overlay() -> tuple[str, ...]:
    """With BROKER_RECORD_DIR set, the broker records the requests it lets through there (policy fixtures)."""
    return ("tests/e2e/broker-record.yml",) if os.environ.get("BROKER_RECORD_DIR") else ()


def env_lines(values: dict[str, str]) -> str:
    """Settings as the lines of an env file that compose reads."""
    return "".join(f"{key}={value}\n" for key, value in values.items())


class StackFactory:
    """Starts stacks one at a time (this machine has two cores); `down_all` removes them."""

    def __init__(self, client, tmp_path_factory):
        self.client, self.tmp_path_factory = client, tmp_path_factory
        self.stacks: list[Stack] = []

    def __call__(self, env: dict[str, str] | None = None, healthy: bool = True, **options) -> Stack:
        self.down_all()
        return self.beside(env, healthy, **options)

    def beside(self, env: dict[str, str] | None = None, healthy: bool = True, **options) -> Stack:
        """A stack up while the others stay up (a second appliance on this host); torn down with them."""
        stack = Stack(self.client, self.tmp_path_factory.mktemp("stack"), env or {}, **options)
        self.stacks.append(stack)
        return stack.up(healthy)

    def down_all(self) -> None:
        for stack in self.stacks:
            stack.down()
        self.stacks.clear()


def remove_unless_being_removed(container) -> None:
    """Remove the container, with the anonymous volumes its image declares (a helper of the hub image has /data's);
    when the engine is removing it already (the hub stopped it), wait until it is gone."""
    try:
        container.remove(force=True, v=True)
    except docker.errors.APIError as error:
        if "already in progress" not in str(error):
            raise
        wait_until(lambda: not container_exists(container), f"the removal of {container.name} to end", seconds=30)


def container_exists(container) -> bool:
    try:
        container.reload()
    except docker.errors.NotFound:
        return False
    return True


def record_spawn(spawn, into: list[float] = SPAWN_SECONDS) -> None:
    """Keep a spawn's duration for the run's summary; None (no spawn happened) is skipped."""
    if spawn is not None:
        into.append(spawn.seconds)


def doctor(stack, **environ) -> tuple[int, dict[str, str], str]:
    """Run the doctor in the hub; return its exit code, each check's PASS/FAIL/SKIP, and the whole report."""
    flags = [part for key, value in environ.items() for part in ("-e", f"{key}={value}")]
    result = stack.compose_result("exec", "-T", *flags, "hub", "appliance", "doctor")
    rows = dict(re.findall(r"^(\S.*?)\s{2,}(PASS|FAIL|SKIP|WARN)\b", result.stdout, flags=re.MULTILINE))
    return result.returncode, rows, result.stdout
