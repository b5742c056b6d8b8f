"""Images are pulled at hub start, before anyone asks: a spawn during that pull waits for it (one pull, not
two), and the doctor says what is still pulling and why a pull failed."""

import io

import docker.errors
import pytest

from harness.compose import RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, doctor
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import wait_until
from tests.e2e.registry import REGISTRY, push
from tests.e2e.slow_registry import SlowRegistry

NAME = f"appliance-e2e/pulled-ahead:{RUN_ID}"
NEVER_PUSHED = f"appliance-e2e/never-pushed:{RUN_ID}"
# About 20 s through the slow registry: time for a spawn and the doctor to arrive during the pull.
LAYER_BYTES = 20_000_000
BYTES_PER_SECOND = 1_000_000


@pytest.fixture(scope="module")
def registry(docker_client, local_registry):
    """The test registry holding an image this host does not have, reached through a slow, counting proxy."""
    pushed = f"{REGISTRY}/{NAME}"
    layer = f"FROM {SINGLEUSER_IMAGE}\nRUN head -c {LAYER_BYTES} /dev/urandom > /tmp/pulled-ahead-layer\n"
    docker_client.images.build(fileobj=io.BytesIO(layer.encode()), tag=pushed, labels={TEST_RUN_LABEL: RUN_ID}, rm=True)
    push(docker_client, pushed)
    docker_client.images.remove(pushed)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(pushed)  # its own layer is gone too: the pull has something to fetch
    with SlowRegistry(BYTES_PER_SECOND) as slow:
        yield slow
        for image in docker_client.images.list(filters={"label": f"{TEST_RUN_LABEL}={RUN_ID}"}):
            if any(tag.startswith(slow.address) for tag in image.tags):
                docker_client.images.remove(image.id, force=True)


@pytest.fixture(scope="module")
def images(registry) -> tuple[str, str]:
    return f"{registry.address}/{NAME}", f"{registry.address}/{NEVER_PUSHED}"


@pytest.fixture(scope="module")
def stack(registry, images, stack_factory):
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "ALLOWED_IMAGES": ",".join(images)})


def test_a_spawn_during_the_pull_ahead_waits_for_it_and_the_doctor_shows_it(stack, registry, images):
    image, never_pushed = images
    wait_until(lambda: f"Pulling ahead of the first spawn: {image}, {never_pushed}" in stack.logs(), "the pull ahead")
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    response = admin.api("POST", "/users/admin/server", json={"image": image})
    assert response.status_code in (201, 202), response.text

    # The other image is not pushed anywhere; its turn comes after this one.
    _, rows, report = doctor(stack)
    assert rows["user images"] == "FAIL", report
    assert f"still pulling: {image} (pulling since the hub started: " in report

    messages = [event["message"] for event in admin.follow_progress()]
    assert f"Image {image} is being pulled since the hub started; waiting for that pull" in messages
    assert any(m.startswith(f"Pulling {image}: Downloading") for m in messages), messages
    assert messages[-1].startswith("Server ready"), messages
    [container] = stack.user_containers("admin")
    assert container.attrs["Config"]["Image"] == image
    # Each pull by Docker 20.10 begins with one HEAD of the tag (its digest), then GETs the manifest by digest.
    manifests = f"/v2/{NAME.split(':')[0]}/manifests/"
    asked = {request: n for request, n in registry.manifest_requests.items() if manifests in request}
    by_digest = [n for request, n in asked.items() if request.startswith(f"GET {manifests}sha256:")]
    assert asked.get(f"HEAD {manifests}{RUN_ID}") == 1 and by_digest == [1], f"one pull, not two: {asked}"


def test_a_pull_ahead_that_failed_is_named_by_the_doctor_with_why(stack, images):
    _, never_pushed = images
    wait_until(lambda: f"Pulling {never_pushed} failed: " in stack.logs(), "the pull of the missing image to fail")
    code, rows, report = doctor(stack)
    assert code == 1 and rows["user images"] == "FAIL", report
    assert f"{never_pushed} (pulling it at hub start failed: " in report
    assert "manifest unknown" in report or "not found" in report
