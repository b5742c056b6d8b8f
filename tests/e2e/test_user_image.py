"""What the appliance's own user image gives: the memory indicator reads the container's limit, and an
nbgitpuller link pulls course material into the user's volume, from a git server the admin allowed."""

import json

import pytest

from tests.e2e.hub_client import wait_until
from tests.e2e.stack import RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, record_spawn

ADMIN_PASSWORD = "user-image-admin-password-0123456789"
MEM_LIMIT_BYTES = 640 * 1024**2
GIT_PORT = 9418
# A course repository with one commit, served by `git daemon` (git's own protocol, read-only).
GIT_SERVER = (
    "set -e; mkdir -p /srv/course; cd /srv/course; git init -q -b main; printf '# Week 1\\n' > README.md; "
    "git add README.md; git -c user.name=Teacher -c user.email=teacher@example.org commit -q -m 'Week 1'; "
    f"exec git daemon --verbose --export-all --base-path=/srv --reuseaddr --listen=0.0.0.0 --port={GIT_PORT} /srv"
)


class GitServer:
    """A git daemon on the stack's network: the course material's home, which user servers may reach."""

    def __init__(self, client):
        self.client, self.container, self.address = client, None, ""

    def start(self, network: str) -> str:
        self.container = self.client.containers.run(
            SINGLEUSER_IMAGE,
            ["sh", "-c", GIT_SERVER],
            user="0",
            name=f"appliance-e2e-git-{RUN_ID}",
            network=network,
            labels={TEST_RUN_LABEL: RUN_ID},
            detach=True,
        )
        wait_until(lambda: b"Ready to rumble" in self.container.logs(), "git daemon to listen", seconds=30)
        self.container.reload()
        self.address = self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        return self.address

    def stop(self) -> None:
        if self.container is not None:
            self.container.remove(force=True)


@pytest.fixture(scope="module")
def git_server(docker_client):
    server = GitServer(docker_client)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(stack_factory, git_server):
    def start_the_git_server_and_allow_it(stack):
        address = git_server.start(stack.network)
        stack.change_env(USER_EGRESS_ALLOW=f"{address}/32:{GIT_PORT}")
        stack.run_compose("up", "--no-start", "--force-recreate", "hub")

    return stack_factory(
        {"ADMIN_PASSWORD": ADMIN_PASSWORD, "MEM_LIMIT": "640M"}, before_start=start_the_git_server_and_allow_it
    )


@pytest.fixture(scope="module")
def admin(stack):
    client = stack.client_for().login("admin", ADMIN_PASSWORD)
    record_spawn(client.ensure_running())
    return client


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
