"""What the appliance's own user image gives: the memory indicator reads the container's limit, and an
nbgitpuller link pulls course material into the user's volume, from a git server the admin allowed."""

import json
import subprocess
from pathlib import Path

import pytest

from harness.compose import RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import wait_until
from tests.e2e.canaries import PRIVATE_ALLOWED, wait_for_listener

MEM_LIMIT_BYTES = 640 * 1024**2
GIT_PORT = 9418


class GitServer:
    """A lab's git server off the Docker host, at a private address in the run's canary namespace, serving a
    course repository with one commit by `git daemon` (git's own protocol, read-only); the admin allows it."""

    def __init__(self, namespace: str, root: Path):
        self.namespace, self.root, self.process = namespace, root, None
        self.address = PRIVATE_ALLOWED

    def start(self) -> None:
        course = self.root / "course"
        course.mkdir(parents=True)
        (course / "README.md").write_text("# Week 1\n")
        author = ["-c", "user.name=Teacher", "-c", "user.email=teacher@example.org"]
        for command in (["init", "-q", "-b", "main"], ["add", "README.md"], [*author, "commit", "-q", "-m", "Week 1"]):
            subprocess.run(["git", "-C", str(course), *command], check=True, capture_output=True)
        daemon = ["git", "daemon", "--export-all", f"--base-path={self.root}", "--reuseaddr",
                  f"--listen={self.address}", f"--port={GIT_PORT}", str(self.root)]  # fmt: skip
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *daemon], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_listener(self.address, GIT_PORT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def git_server(canaries, tmp_path_factory):
    server = GitServer(canaries.namespace, tmp_path_factory.mktemp("git"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(stack_factory, git_server):
    allowed = f"{git_server.address}/32:{GIT_PORT}"
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "MEM_LIMIT": "640M", "USER_EGRESS_ALLOW": allowed})


def test_the_memory_indicator_reads_the_containers_limit(admin):
    response = admin.server_api("GET", "/metrics/v1")
    assert response.status_code == 200, response.text
    metrics = response.json()
    assert metrics["limits"]["memory"]["rss"] == MEM_LIMIT_BYTES
    assert 0 < metrics["rss"] < MEM_LIMIT_BYTES


def test_an_nbgitpuller_link_pulls_course_material_into_the_users_volume(stack, admin, git_server):
    query = f"repo=git://{git_server.address}:{GIT_PORT}/course&branch=main&urlpath=lab/tree/course/README.md"
    link = admin.session.get(f"{stack.url}/hub/user-redirect/git-pull?{query}", timeout=60)
    assert link.status_code == 200 and link.url.startswith(f"{stack.url}/user/admin/git-pull?"), link.url
    # What the link's page then does in the browser: follow the pull's event stream to its end.
    pull = admin.session.get(f"{stack.url}/user/admin/git-pull/api?{query}", stream=True, timeout=120)
    events = [json.loads(line[len(b"data:") :]) for line in pull.iter_lines() if line.startswith(b"data:")]
    assert events[-1]["phase"] == "finished", events
    assert admin.read_file("course/README.md") == "# Week 1\n"


# singleuser/patches/jupyterhub-lazy-orm-imports.patch: the single-user server loads none of the hub's database
# stack, and the functions whose imports moved still work, with the ORM loaded only when they run.
LAZY_IMPORTS_CHECK = """
import sys
import jupyterhub.singleuser.extension
from jupyterhub.scopes import _intersect_expanded_scopes
database_stack = ("sqlalchemy", "alembic", "jupyterhub.orm", "jupyterhub.handlers")
loaded = sorted(name for name in database_stack if name in sys.modules)
print("loaded:", loaded)
print("intersection:", sorted(_intersect_expanded_scopes({"access:servers!user=ada"}, {"access:servers"})))
from jupyterhub.scopes import has_scope
print("has_scope:", has_scope("read:users!user=ada", {"read:users"}), "orm:", "jupyterhub.orm" in sys.modules)
"""


def test_the_user_server_does_not_load_the_hubs_database_stack(docker_client):
    output = docker_client.containers.run(
        SINGLEUSER_IMAGE,
        ["python3", "-c", LAZY_IMPORTS_CHECK],
        environment={"JUPYTERHUB_API_TOKEN": "unused"},
        labels={TEST_RUN_LABEL: RUN_ID},
        network_disabled=True,
        remove=True,
    ).decode()
    assert "loaded: []" in output, output
    assert "intersection: ['access:servers!user=ada']" in output, output
    assert "has_scope: True orm: True" in output, output


# What jupyterhub-singleuser does at start: ask the hub through jupyterhub.httpclient, trying again on errors.
ASKS_BY_NAME_UNTIL_RESOLVED = """
import asyncio, aiohttp
from jupyterhub.httpclient import fetch

async def main():
    for _ in range(40):
        try:
            await fetch("http://late-target:1/")
        except aiohttp.ClientConnectorDNSError:
            print("not yet", flush=True)
            await asyncio.sleep(0.25)
        except aiohttp.ClientConnectorError:
            return print("resolved")
    print("never resolved")

asyncio.run(main())
"""


def test_a_server_connected_after_it_started_resolves_names_once_connected(docker_client):
    """The hub starts a server with loopback only and connects it once its network rules are written; until then
    /etc/resolv.conf names the host's resolver. The image's JupyterHub client resolves with the system's resolver,
    which reads the file again, so a call to the hub that came too early succeeds on its next try."""
    labels = {TEST_RUN_LABEL: RUN_ID}
    network = docker_client.networks.create(f"appliance-e2e-{RUN_ID}-late-network", labels=labels)
    asks = ["python3", "-c", ASKS_BY_NAME_UNTIL_RESOLVED]
    container = docker_client.containers.create(SINGLEUSER_IMAGE, asks, network=network.name, labels=labels)
    try:
        network.disconnect(container)
        container.start()
        wait_until(lambda: b"not yet" in container.logs(), "a first try before the network is there", seconds=20)
        network.connect(container, aliases=["late-target"])
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert "resolved" in container.logs().decode().splitlines()
    finally:
        container.remove(force=True)
        network.remove()
