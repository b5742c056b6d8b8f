"""The upgrade from the previous release, as an admin does it: new compose file, `docker compose pull`, `up -d`.

Release N is built from its own commit with its own build script. The images of this version
come from a real registry on loopback (IMAGE_REGISTRY points there), so the pull is real too.
"""

import io
import subprocess
import tarfile
import time
from dataclasses import dataclass

import pytest

from appliance import __version__
from appliance.images import image_name
from harness.compose import ARTIFACTS, E2E_PREFIX, HUB_IMAGE, ROOT, RUN_ID, SINGLEUSER_IMAGE, Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient
from tests.e2e.network_probe import OUTSIDE, kernel_of, reaches
from tests.e2e.registry import push
from tests.e2e.user_files import checksums, writing

PREVIOUS_VERSION = "0.1.0"
# The commit of release 0.1.0 (CHANGELOG.md); its images were named jupyterhub-appliance/KIND:0.1.0.
PREVIOUS_COMMIT = "30a1ad40b1e1e23fc2563f63bd0df8ffb4c1d501"
PREVIOUS_HUB_IMAGE = f"jupyterhub-appliance/hub:{PREVIOUS_VERSION}"
PREVIOUS_SINGLEUSER_IMAGE = f"jupyterhub-appliance/singleuser:{PREVIOUS_VERSION}"
NOTES = "written under release 0.1.0\n"
# Files of every kind in ~/work under release N: random data, nested folders, dotfiles.
WORK_FILES = ("data/raw/a.bin", "data/raw/deep/b.bin", "data/.cache/c.bin", ".hidden-config", "notes.txt")
WRITE_WORK_FILES = writing("/home/jovyan/work", WORK_FILES[:-1], seed=37)
WORK_CHECKSUMS = checksums("/home/jovyan/work", WORK_FILES)


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory):
    """The source tree of the previous release, and its images built by its own scripts/build-images.sh."""
    tree = tmp_path_factory.mktemp(f"release-{PREVIOUS_VERSION}")
    fetch_if_missing(PREVIOUS_COMMIT)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_COMMIT], capture_output=True, check=False)
    assert archive.returncode == 0, (
        f"release {PREVIOUS_VERSION} is commit {PREVIOUS_COMMIT}, which this clone lacks and could not fetch: "
        f"{archive.stderr.decode()}"
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as source:
        source.extractall(tree, filter="data")
    build = subprocess.run(["bash", "scripts/build-images.sh"], cwd=tree, capture_output=True, text=True, check=False)
    assert build.returncode == 0, f"building release {PREVIOUS_VERSION} failed:\n{build.stdout}\n{build.stderr}"
    return tree


def fetch_if_missing(commit: str) -> None:
    """A shallow clone lacks older commits; fetch just that one from origin."""
    git = ["git", "-C", str(ROOT)]
    if subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True).returncode != 0:
        subprocess.run([*git, "fetch", "--quiet", "--depth", "1", "origin", commit], capture_output=True, check=False)


@pytest.fixture(scope="module")
def published(docker_client, local_registry):
    """This version's images, pushed to the loopback registry as a release would publish them; then the
    local copies under the registry's names are removed, so that `docker compose pull` has to fetch them."""
    registry = f"{local_registry}/appliance-e2e"
    names = {kind: image_name(kind, registry) for kind in ("hub", "singleuser")}
    for kind, local in (("hub", HUB_IMAGE), ("singleuser", SINGLEUSER_IMAGE)):
        docker_client.images.get(local).tag(names[kind])
        push(docker_client, names[kind])
        docker_client.images.remove(names[kind])
    yield registry
    for name in names.values():
        if docker_client.images.list(name=name):
            docker_client.images.remove(name)


@dataclass
class Before:
    """What release N left: the users' browser sessions, a running server and its file."""

    admin: HubClient
    alice: HubClient
    server_container_id: str
    work_checksums: str


@dataclass
class Upgrade:
    stack: Stack
    before: Before
    registry: str
    pull_output: str


@pytest.fixture(scope="module")
def upgrade(stack_factory, previous_release, published, docker_client) -> Upgrade:
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "alice"}
    stack = stack_factory(env, root=previous_release)
    hub_image = stack.hub_container().image
    assert hub_image.tags == [PREVIOUS_HUB_IMAGE]
    assert hub_image.labels["org.opencontainers.image.version"] == PREVIOUS_VERSION
    before = use_release_n(stack)
    assert docker_client.containers.get(before.server_container_id).image.tags == [PREVIOUS_SINGLEUSER_IMAGE]

    # The admin's steps: take the new compose file, point it at the registry, pull, up -d.
    stack.switch_root(ROOT)
    stack.change_env(IMAGE_REGISTRY=published)
    started = time.monotonic()
    pull = stack.compose_result("pull")
    assert pull.returncode == 0, pull.stderr
    pulled = time.monotonic()
    stack.run_compose("up", "-d")
    stack.wait_healthy()
    answered = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "release-upgrade.md").write_text(
        f"# Upgrade {PREVIOUS_VERSION} -> {__version__}\n\n"
        f"- `docker compose pull` from {published}: {pulled - started:.1f} s\n"
        f"- `docker compose up -d` until /hub/health answers: {answered - pulled:.1f} s\n"
    )
    return Upgrade(stack, before, published, pull.stdout + pull.stderr)


def use_release_n(stack: Stack) -> Before:
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    alice = stack.client_for().login("alice", USER_PASSWORD)
    alice.ensure_running()
    alice.put_file("notes.txt", NOTES)
    alice.run_once(WRITE_WORK_FILES)
    checksums = alice.run_once(WORK_CHECKSUMS)
    assert len(checksums.splitlines()) == 5, checksums
    [container] = stack.user_containers("alice")
    return Before(admin, alice, container.id, checksums)


def test_the_new_images_were_pulled_from_the_registry_and_run_the_hub(upgrade, docker_client):
    hub_image = image_name("hub", upgrade.registry)
    assert hub_image in upgrade.stack.hub_container().image.tags
    assert docker_client.images.get(hub_image).labels["org.opencontainers.image.version"] == __version__
    singleuser_image = image_name("singleuser", upgrade.registry)
    assert docker_client.images.get(singleuser_image).id == docker_client.images.get(SINGLEUSER_IMAGE).id
    pulled = upgrade.pull_output.lower()
    assert "pulled" in pulled or "already exists" in pulled, upgrade.pull_output


def test_the_database_was_backed_up_before_the_new_version_started(upgrade):
    stack = upgrade.stack
    logs = stack.logs()
    assert f"Appliance before 0.2.0 ran last on this data; this is {__version__}." in logs
    backups = stack.run_compose("exec", "-T", "hub", "ls", "/data/backups").split()
    [backup] = [name for name in backups if name.endswith(f"-before-{__version__}.sqlite")]
    assert stack.read_in_hub(f"/data/backups/{backup}", first_bytes=15) == "SQLite format 3"
    assert stack.read_in_hub("/data/appliance-version") == __version__
    schema = stack.run_compose("exec", "-T", "hub", "python3", "-c", CURRENT_SCHEMA_IS_HEAD).strip()
    assert schema == "at head", schema


CURRENT_SCHEMA_IS_HEAD = """
from appliance.database import jupyterhub_revisions, schema_revision
from pathlib import Path
print("at head" if schema_revision(Path("/data/jupyterhub.sqlite")) == jupyterhub_revisions()[0] else "behind")
"""


def test_users_stay_logged_in(upgrade):
    assert upgrade.before.alice.whoami() == "alice"
    assert upgrade.before.admin.whoami() == "admin"


def test_the_running_server_and_its_files_came_through(upgrade, docker_client):
    alice = upgrade.before.alice
    [container] = upgrade.stack.user_containers("alice")
    assert container.id == upgrade.before.server_container_id
    assert alice.read_file("notes.txt") == NOTES


def test_the_running_server_kept_its_network_and_got_the_network_rules(upgrade, canaries):
    # Release N named the network jupyterhub-appliance; this one names it after the compose project.
    logs = upgrade.stack.logs()
    assert "run on the network jupyterhub-appliance; the hub joined it too, so they keep working" in logs
    assert "The network rules of alice were written for other surroundings" in logs
    kernel = kernel_of(upgrade.before.alice, "after-upgrade.ipynb")
    got = reaches(kernel, {"metadata": OUTSIDE["metadata"], "hub API": ("hub", 8081)})
    assert got == {"metadata": "Connection refused", "hub API": "open"}


def test_the_next_spawn_uses_the_new_user_image_with_the_same_files(upgrade, docker_client):
    alice = upgrade.before.alice
    alice.stop_server()
    spawn = alice.start_server()
    messages = [event["message"] for event in spawn.events]
    new_image = image_name("singleuser", upgrade.registry)
    assert f"Image {new_image} is on this host" in messages
    [container] = upgrade.stack.user_containers("alice")
    assert new_image in container.image.tags
    assert container.image.labels["org.opencontainers.image.version"] == __version__
    # An install of release N keeps its names and its volume at ~/work: every file as it was. The rest of the home
    # is a second volume.
    logs = upgrade.stack.logs()
    assert container.name == "jupyter-alice" and "CONTAINER_NAMES=legacy" in logs
    assert "holds their ~/work and stays mounted there, untouched" in logs
    assert sorted(volume.name for volume in upgrade.stack.user_volumes()) == [
        "jupyterhub-user-alice",
        "jupyterhub-user-alice.home",
    ]
    mounts = {mount["Destination"]: mount["Name"] for mount in container.attrs["Mounts"]}
    assert mounts == {"/home/jovyan/work": "jupyterhub-user-alice", "/home/jovyan": "jupyterhub-user-alice.home"}
    alice.open_lab()
    assert alice.read_file("notes.txt") == NOTES
    assert alice.run_once(WORK_CHECKSUMS) == upgrade.before.work_checksums


def test_after_the_upgrade_the_rest_of_the_home_persists_too(upgrade):
    alice = upgrade.before.alice
    alice.ensure_running()
    alice.run_once("import os\nos.makedirs('/home/jovyan/.config', exist_ok=True)\n"
                   "open('/home/jovyan/.config/kept.txt', 'w').write('outside ~/work')")  # fmt: skip
    alice.stop_server()
    alice.start_server()
    alice.open_lab()
    assert alice.run_once("print(open('/home/jovyan/.config/kept.txt').read())") == "outside ~/work"
    assert alice.run_once(WORK_CHECKSUMS) == upgrade.before.work_checksums


def test_compose_up_builds_the_images_from_source_when_they_cannot_be_pulled(stack_factory, docker_client):
    registry = f"{E2E_PREFIX}{RUN_ID}.invalid/nowhere"  # a registry that does not exist
    built = [image_name(kind, registry) for kind in ("hub", "singleuser")]
    try:
        stack = stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "IMAGE_REGISTRY": registry})
        assert built[0] in stack.hub_container().image.tags
        for name in built:
            assert docker_client.images.get(name).labels["org.opencontainers.image.version"] == __version__
        assert stack.client_for().login("admin", ADMIN_PASSWORD).whoami() == "admin"
    finally:
        stack_factory.down_all()
        for name in built:
            if docker_client.images.list(name=name):
                docker_client.images.remove(name)
