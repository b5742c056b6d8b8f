"""Profiles: each group gets its own servers, chosen at spawn and enforced by the hub, whoever asks.

Three profiles: a small default for everyone (read-only course material, a shared scratch), a large one
for the group staff (another image, more memory and CPU), and a GPU one for gpu-users, on a machine
without GPUs. alice is in no group, bob in staff, carol in gpu-users.
"""

import time

import pytest

from harness.compose import INSTANCE_LABEL, RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, doctor, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until

LARGE_IMAGE = f"appliance-e2e-large:{RUN_ID}"
COURSE_VOLUME = f"appliance-e2e-course-{RUN_ID}"
SCRATCH_VOLUME = f"appliance-e2e-scratch-{RUN_ID}"
MIB = 1024**2
PROFILES = f"""\
profiles:
  - name: small
    display_name: Small
    description: For coursework
    default: true
    mem_limit: 384M
    cpu_limit: 0.5
    environment: {{PROFILE_SEEN: small}}
    volumes:
      - {{name: {COURSE_VOLUME}, mount_path: /home/jovyan/course}}
      - {{name: {SCRATCH_VOLUME}, mount_path: /home/jovyan/scratch, read_only: false}}
  - name: large
    display_name: Large <staff>
    image: {LARGE_IMAGE}
    mem_limit: 768M
    cpu_limit: 1.5
    environment: {{PROFILE_SEEN: large}}
    groups: [staff]
  - name: gpu
    display_name: One GPU
    gpus: all
    groups: [gpu-users]
"""


@pytest.fixture(scope="module")
def large_image(docker_client):
    """The large profile's own image: the user image under another name."""
    docker_client.images.get(SINGLEUSER_IMAGE).tag(LARGE_IMAGE)
    yield LARGE_IMAGE
    docker_client.images.remove(LARGE_IMAGE)


@pytest.fixture(scope="module")
def course_volume(docker_client):
    """Course material an admin has put into a volume; the appliance only mounts it."""
    docker_client.volumes.create(COURSE_VOLUME, labels={TEST_RUN_LABEL: RUN_ID})
    docker_client.containers.run(
        SINGLEUSER_IMAGE,
        ["sh", "-c", "echo 'week 1: arrays' > /course/syllabus.txt"],
        user="0",
        volumes={COURSE_VOLUME: {"bind": "/course", "mode": "rw"}},
        network_mode="none",
        labels={TEST_RUN_LABEL: RUN_ID},
        remove=True,
    )
    yield COURSE_VOLUME
    docker_client.volumes.get(COURSE_VOLUME).remove(force=True)


@pytest.fixture(scope="module")
def stack(large_image, course_volume, stack_factory, tmp_path_factory):
    profiles_dir = tmp_path_factory.mktemp("profiles")
    (profiles_dir / "profiles.yml").write_text(PROFILES)
    stack = stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "alice,bob,carol",
            "NAMED_SERVERS": "2",
            "PROFILES_DIR": str(profiles_dir),
        }
    )
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    for group, members in (("staff", ["bob"]), ("gpu-users", ["carol"])):
        response = admin.api("POST", f"/groups/{group}", json={"users": members})
        assert response.status_code == 201, response.text
    return stack


@pytest.fixture(scope="module")
def admin(stack):
    return stack.client_for().login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def alice(stack):
    return stack.client_for().login("alice", USER_PASSWORD)


@pytest.fixture(scope="module")
def bob(stack):
    return stack.client_for().login("bob", USER_PASSWORD)


@pytest.fixture(scope="module")
def carol(stack):
    return stack.client_for().login("carol", USER_PASSWORD)


def spawn_page(stack, client) -> str:
    response = client.session.get(f"{stack.url}/hub/spawn", timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def container_of(stack, name: str):
    [container] = [c for c in stack.client.containers.list() if c.name == name]
    return container


def environment_of(container) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in container.attrs["Config"]["Env"])


def test_each_spawn_page_lists_only_the_users_own_profiles(stack, bob, carol):
    bobs, carols = spawn_page(stack, bob), spawn_page(stack, carol)
    assert 'value="small"' in bobs and 'value="large"' in bobs and 'value="gpu"' not in bobs
    assert "Large &lt;staff&gt;" in bobs, "names are escaped"
    assert f"{LARGE_IMAGE} &middot; 768M memory &middot; 1.5 CPU" in bobs
    assert "/home/jovyan/course (read-only)" in bobs
    assert 'value="small"' in carols and 'value="gpu"' in carols and 'value="large"' not in carols
    assert "GPUs: all" in carols


def test_a_user_cannot_start_another_groups_profile_a_made_up_one_or_a_foreign_image(stack, alice):
    refusals = {
        "staff's profile": alice.failed_start({"profile": "large"}),
        "the staff image": alice.failed_start({"image": LARGE_IMAGE}),
        "a made-up profile": alice.failed_start({"profile": "huge"}),
        "a made-up option": alice.failed_start({"mem_limit": "64G"}),
    }
    assert refusals["staff's profile"].startswith("403 The profile large is for members of staff, and alice is in")
    assert refusals["the staff image"].startswith(f"403 The image '{LARGE_IMAGE}' is not in a profile open to alice")
    assert refusals["a made-up profile"].startswith("400 There is no profile 'huge' on this hub")
    assert refusals["a made-up option"].startswith("400 Unknown server option(s): mem_limit")
    assert "Profiles open to alice: small." in refusals["staff's profile"]
    assert stack.user_containers("alice") == [], "nothing was created for a refused start"


def test_an_admin_cannot_start_a_profile_for_someone_outside_its_groups(stack, admin):
    response = admin.api("POST", "/users/alice/server", json={"profile": "large"})
    assert response.status_code == 403, response.text
    assert "alice is in none of these groups" in response.json()["message"]
    assert stack.user_containers("alice") == []


def test_each_profile_starts_with_its_image_limits_and_environment(stack, bob):
    record_spawn(bob.start_server({"profile": "small"}))
    named = bob.api("POST", "/users/bob/servers/side", json={"profile": "large"})
    assert named.status_code in (201, 202), named.text
    wait_until(lambda: bob.api("GET", "/users/bob").json()["servers"].get("side", {}).get("ready"), "bob's side server")
    small, large = container_of(stack, stack.server_name("bob")), container_of(stack, stack.server_name("bob", "side"))
    assert small.attrs["Config"]["Image"] == SINGLEUSER_IMAGE
    assert (small.attrs["HostConfig"]["Memory"], small.attrs["HostConfig"]["CpuQuota"]) == (384 * MIB, 50_000)
    assert environment_of(small)["PROFILE_SEEN"] == "small"
    assert large.attrs["Config"]["Image"] == LARGE_IMAGE
    assert (large.attrs["HostConfig"]["Memory"], large.attrs["HostConfig"]["CpuQuota"]) == (768 * MIB, 150_000)
    assert environment_of(large)["PROFILE_SEEN"] == "large"
    assert large.attrs["HostConfig"]["CapDrop"] == ["ALL"], "a profile keeps the hardening"
    mounts = {mount["Destination"]: mount for mount in small.attrs["Mounts"]}
    assert (mounts["/home/jovyan/course"]["Name"], mounts["/home/jovyan/course"]["RW"]) == (COURSE_VOLUME, False)
    assert (mounts["/home/jovyan/scratch"]["Name"], mounts["/home/jovyan/scratch"]["RW"]) == (SCRATCH_VOLUME, True)
    assert "/home/jovyan/course" not in {mount["Destination"] for mount in large.attrs["Mounts"]}
    response = bob.api("DELETE", "/users/bob/servers/side")
    assert response.status_code in (202, 204), response.text


def test_no_profile_named_is_the_default_one(stack, alice):
    record_spawn(alice.start_server())
    container = container_of(stack, stack.server_name("alice"))
    assert container.attrs["HostConfig"]["Memory"] == 384 * MIB
    assert environment_of(container)["PROFILE_SEEN"] == "small"


def test_course_material_is_read_only_and_the_scratch_is_shared(stack, alice, bob):
    alice.open_lab()
    bob.open_lab()
    wrote = alice.run_once(
        "print(open('/home/jovyan/course/syllabus.txt').read().strip())\n"
        "try:\n    open('/home/jovyan/course/answers.txt', 'w')\nexcept OSError as error:\n    print(error.errno)\n"
        "open('/home/jovyan/scratch/notes.txt', 'w').write('from alice\\n')",
        notebook="course.ipynb",
    )
    assert wrote.splitlines() == ["week 1: arrays", "30"], "EROFS: the course volume is mounted read-only"
    edited = bob.run_once(
        "path = '/home/jovyan/scratch/notes.txt'\nprint(open(path).read().strip())\n"
        "open(path, 'a').write('and bob\\n')",
        notebook="scratch.ipynb",
    )
    assert edited == "from alice"
    assert alice.run_once("print(open('/home/jovyan/scratch/notes.txt').read())", notebook="back.ipynb") == (
        "from alice\nand bob"
    )
    # The scratch's default ACL: new files are everyone's to edit, whatever the umask (022 here), as for other uids.
    modes = alice.run_once(
        "import os\nos.makedirs('/home/jovyan/scratch/results')\n"
        "print(oct(os.stat('/home/jovyan/scratch/notes.txt').st_mode & 0o777), os.umask(0o022))\n"
        "print(oct(os.stat('/home/jovyan/scratch/results').st_mode & 0o777))",
        notebook="modes.ipynb",
    )
    assert modes.splitlines() == ["0o666 18", "0o777"]
    scratch = stack.client.volumes.get(SCRATCH_VOLUME)
    assert scratch.attrs["Labels"] == {INSTANCE_LABEL: stack.project, "jupyterhub-appliance.shared": "true"}


def test_a_gpu_profile_on_a_host_without_gpus_fails_fast_saying_what_to_install(stack, carol):
    started = time.monotonic()
    reason = carol.failed_start({"profile": "gpu"})
    seconds = time.monotonic() - started
    assert "The profile gpu asks for GPUs (all), but this host's Docker engine has no GPU support" in reason
    assert "NVIDIA Container Toolkit" in reason
    assert seconds < 10, seconds
    # As Docker recorded the container before it was removed: a request for every GPU.
    [logged] = [line for line in stack.logs().splitlines() if "asked for GPUs (DeviceRequests" in line]
    assert "'Count': -1" in logged and "'Capabilities': [['gpu']]" in logged, logged
    wait_until(lambda: not stack.user_containers("carol"), "the GPU container to be removed")


def test_the_doctor_says_the_gpu_profile_needs_a_gpu_runtime(stack):
    code, rows, report = doctor(stack)
    assert code == 1 and rows["GPUs"] == "FAIL", report
    assert "profiles gpu ask for GPUs, but the engine has no GPU runtime" in report
    assert "nvidia-ctk runtime configure --runtime=docker" in report


def test_check_prints_the_profiles_it_read(stack):
    shown = stack.run_compose("exec", "-T", "hub", "appliance", "check")
    assert "small (default): image" in shown
    assert f"large: image {LARGE_IMAGE}; memory 768M; 1.5 CPU; for staff" in shown
