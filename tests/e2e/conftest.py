"""End-to-end fixtures: the built images, and compose stacks started one at a time and checked clean."""

import statistics

import docker
import pytest

from harness.compose import (
    ARTIFACTS,
    HUB_IMAGE,
    MULTI_NODE_SPAWN_SECONDS,
    POSTGRES_IMAGE,
    RUN_ID,
    SINGLEUSER_IMAGE,
    SPAWN_SECONDS,
    SWARM_SPAWN_SECONDS,
    SYSTEMUSER_IMAGE,
    StackFactory,
    leftovers_of,
    record_spawn,
    sweep_earlier_runs,
)
from harness.credentials import ADMIN_PASSWORD
from harness.swarm import docker_cli
from tests.e2e.canaries import NAMESPACE_PREFIX, VETH_PREFIX, Canaries
from tests.e2e.registry import REGISTRY, start_registry


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter):
    for artifact in sorted(ARTIFACTS.glob("*")):
        terminalreporter.write_line(f"e2e artifact: {artifact}")
    for mode, seconds in (
        ("", SPAWN_SECONDS),
        ("swarm ", SWARM_SPAWN_SECONDS),
        ("three-node swarm ", MULTI_NODE_SPAWN_SECONDS),
    ):
        if seconds:
            terminalreporter.write_line(
                f"e2e {mode}spawns: {len(seconds)}, median {statistics.median(seconds):.2f} s, "
                f"min {min(seconds):.2f} s, max {max(seconds):.2f} s (start API until ready)"
            )


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env()
    for image in (HUB_IMAGE, SINGLEUSER_IMAGE, SYSTEMUSER_IMAGE, POSTGRES_IMAGE):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"{image} is missing: run `make images` first")
    for thing in sweep_earlier_runs(client):
        print(f"removed {thing}, left by an earlier, interrupted e2e run")
    yield client
    leftovers = leftovers_of(client, f"appliance-e2e-{RUN_ID}", run_id=RUN_ID)
    client.close()
    assert not leftovers, f"the e2e run left these behind: {leftovers}"


@pytest.fixture(scope="module")
def stack_factory(docker_client, tmp_path_factory):
    """Stacks of one test module; torn down at the module's end."""
    factory = StackFactory(docker_client, tmp_path_factory)
    yield factory
    factory.down_all()


@pytest.fixture(scope="module")
def admin(stack):
    """The admin logged in to the module's `stack`, their server running."""
    client = stack.client_for().login("admin", ADMIN_PASSWORD)
    record_spawn(client.ensure_running())
    return client


@pytest.fixture(scope="session")
def registry_server(docker_client):
    """The run's one registry container (published on loopback at REGISTRY), for the whole run."""
    container = start_registry(docker_client)
    try:
        yield container.get_wrapped_container()
    finally:
        container.stop()


@pytest.fixture(scope="session")
def local_registry(registry_server):
    """The address of the run's registry on loopback, such as localhost:41234."""
    return REGISTRY


@pytest.fixture(scope="session")
def canaries():
    """Listeners in a network namespace of this run: an "internet" address, the metadata address, private ones."""
    made = Canaries(f"{NAMESPACE_PREFIX}{RUN_ID}", f"{VETH_PREFIX}{RUN_ID[:6]}").create()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def swarm(docker_client):
    """A single-node swarm on loopback; left afterwards only if the test created it."""
    created = docker_client.info()["Swarm"]["LocalNodeState"] != "active"
    if created:
        docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
    yield
    if created:
        docker_cli("swarm", "leave", "--force")
