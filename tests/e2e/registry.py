"""A real registry on loopback (Debian's docker-registry), for tests that push and pull images.

Docker treats registries on localhost as insecure by default, so plain HTTP works without
changing the engine's configuration.
"""

import io

import requests
from testcontainers.core.container import DockerContainer

from harness.compose import BASE_IMAGE, RUN_ID, TEST_RUN_LABEL, free_port
from harness.hub_client import wait_until

REGISTRY_IMAGE = "jupyterhub-appliance/e2e-registry:latest"
REGISTRY_PORT = free_port()
REGISTRY = f"localhost:{REGISTRY_PORT}"
CONFIG = 'version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: /var/lib/registry\\nhttp:\\n  addr: ":5000"\\n'


def start_registry(docker_client) -> DockerContainer:
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends docker-registry "
        "&& rm -rf /var/lib/apt/lists/*\n"
        # Debian's own config asks for passwords; this test registry is anonymous, on loopback only.
        f"RUN printf '{CONFIG}' > /etc/docker/registry/e2e.yml\n"
    )
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=REGISTRY_IMAGE, rm=True)
    container = (
        DockerContainer(REGISTRY_IMAGE)
        # Back after a restart of dockerd (test_faults restarts it), for the tests after it that push or pull.
        .with_kwargs(
            labels={TEST_RUN_LABEL: RUN_ID},
            entrypoint=["docker-registry", "serve"],
            restart_policy={"Name": "unless-stopped"},
        )
        .with_command("/etc/docker/registry/e2e.yml")
    )
    container.ports["5000/tcp"] = ("127.0.0.1", REGISTRY_PORT)
    container.start()
    wait_until(registry_answers, "the registry to answer", seconds=30)
    return container


def registry_answers() -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{REGISTRY_PORT}/v2/", timeout=2).ok
    except requests.ConnectionError:
        return False


def push(docker_client, reference: str) -> None:
    for line in docker_client.images.push(reference, stream=True, decode=True):
        assert "error" not in line, line
