"""Spawns report their steps, pulls included; one that cannot work ends quickly with the reason;
users choose only from the allowed images."""

import io
import time

import pytest
import requests

from harness.compose import (
    HUB_IMAGE,
    HUB_JUPYTERHUB,
    HUB_JUPYTERHUB_MAJOR,
    RUN_ID,
    SINGLEUSER_IMAGE,
    TEST_RUN_LABEL,
    record_spawn,
)
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until
from tests.e2e.browser import chromium, keep_screenshot, log_in
from tests.e2e.registry import REGISTRY, push

SERVER_START_TIMEOUT = 8
EXITS_IMAGE = f"appliance-e2e-exits:{RUN_ID}"
SILENT_IMAGE = f"appliance-e2e-silent:{RUN_ID}"
# In the test registry, which never had it: the pull fails on loopback, not on a public registry.
MISSING_IMAGE = f"{REGISTRY}/appliance-e2e/missing:{RUN_ID}"
PULLED_IMAGE = f"{REGISTRY}/appliance-e2e/pulled:{RUN_ID}"
OLD_JUPYTERHUB = "5.4.6"
OLD_JUPYTERHUB_IMAGE = f"appliance-e2e-jupyterhub5:{RUN_ID}"
BROKEN_IMAGES = {
    EXITS_IMAGE: """CMD ["sh", "-c", "echo 'fatal: /etc/lab.conf is missing' >&2; exit 3"]""",
    SILENT_IMAGE: """CMD ["sleep", "3600"]""",
    # A real older JupyterHub in the user image, as in an image built for an older hub.
    OLD_JUPYTERHUB_IMAGE: f"USER root\nRUN pip install --no-deps jupyterhub=={OLD_JUPYTERHUB}\nUSER jovyan",
}


@pytest.fixture(scope="module")
def broken_images(docker_client):
    for tag, command in BROKEN_IMAGES.items():
        dockerfile = f"FROM {SINGLEUSER_IMAGE}\n{command}\n".encode()
        docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, labels={TEST_RUN_LABEL: RUN_ID}, rm=True)
    yield
    for tag in BROKEN_IMAGES:
        docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def registry(docker_client, local_registry):
    """The local registry, holding an image this host does not have."""
    # An image with a layer of its own, so that pulling it transfers data.
    layer = f"FROM {SINGLEUSER_IMAGE}\nRUN head -c 16000000 /dev/urandom > /tmp/pulled-layer\n"
    docker_client.images.build(fileobj=io.BytesIO(layer.encode()), tag=PULLED_IMAGE, rm=True)
    try:
        push(docker_client, PULLED_IMAGE)
        docker_client.images.remove(PULLED_IMAGE)
        yield
    finally:
        if PULLED_IMAGE in {tag for image in docker_client.images.list() for tag in image.tags}:
            docker_client.images.remove(PULLED_IMAGE, force=True)


@pytest.fixture(scope="module")
def stack(stack_factory, broken_images, registry):
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "bob",
            "ALLOWED_IMAGES": f"{EXITS_IMAGE},{SILENT_IMAGE},{MISSING_IMAGE},{PULLED_IMAGE},{OLD_JUPYTERHUB_IMAGE}",
            "SERVER_START_TIMEOUT": str(SERVER_START_TIMEOUT),
            # The spawns' own pulls are what this story tests (test_pull_ahead: the pull at hub start).
            "PULL_AHEAD": "false",
        }
    )


@pytest.fixture(scope="module")
def bob(stack):
    return stack.client_for().login("bob", USER_PASSWORD)


def failed_spawn(client, image: str) -> tuple[str, float]:
    """Start a server from image; return why it failed and how long that took."""
    started = time.monotonic()
    reason = client.failed_start({"image": image})
    return reason, time.monotonic() - started


def test_users_get_a_form_with_the_allowed_images(stack, bob):
    form = bob.session.get(f"{stack.url}/hub/spawn", timeout=30).text
    for image in (SINGLEUSER_IMAGE, EXITS_IMAGE, SILENT_IMAGE, MISSING_IMAGE):
        assert image in form


def test_the_spawn_page_shows_why_a_chosen_image_cannot_start(stack):
    """In a browser: the form's request fails within JupyterHub's first second, and the page says why, not error 500."""
    with chromium() as browser:
        page = browser.new_context().new_page()
        log_in(page, stack.url, "bob", USER_PASSWORD)
        page.goto(f"{stack.url}/hub/spawn")
        page.locator(".appliance-profile", has_text=MISSING_IMAGE).locator("input").check()
        page.locator("form input[type=submit], form button[type=submit]").first.click()
        message = page.get_by_text(f"Image {MISSING_IMAGE} is not on this host, and pulling it failed")
        message.wait_for(timeout=30_000)
        assert "Internal Server Error" not in page.content() and "Unhandled error" not in page.content()
        keep_screenshot(page, "spawn-error-missing-image.png")
    wait_until(lambda: not stack.user_containers("bob"), "no container for the refused start")


def test_an_image_not_on_the_host_is_pulled_with_progress(stack, bob, docker_client):
    response = bob.api("POST", "/users/bob/server", json={"image": PULLED_IMAGE})
    assert response.status_code in (201, 202), response.text
    messages = [event["message"] for event in bob.follow_progress()]
    assert f"Pulling image {PULLED_IMAGE}" in messages
    assert f"Pulled image {PULLED_IMAGE}" in messages
    assert any(m.startswith(f"Pulling {PULLED_IMAGE}: Downloading") and "/16.01MB" in m for m in messages)
    creating = f"Creating container {stack.server_name('bob')}"
    assert messages.index(f"Pulled image {PULLED_IMAGE}") < messages.index(creating)
    record_spawn(bob.ensure_running())
    assert [c.image.tags for c in stack.user_containers("bob")] == [[PULLED_IMAGE]]
    bob.stop_server()
    print("pull progress seen:", [m for m in messages if m.startswith("Pulling ")])


def test_a_container_that_exits_at_once_shows_its_last_log_lines(stack, bob):
    message, seconds = failed_spawn(bob, EXITS_IMAGE)
    assert "exited at once (exit code 3)" in message
    assert "fatal: /etc/lab.conf is missing" in message
    assert seconds < SERVER_START_TIMEOUT
    wait_until(lambda: not stack.user_containers("bob"), "the failed container to be removed")


def test_a_server_that_never_answers_fails_at_its_deadline_with_the_reason(stack, bob):
    message, seconds = failed_spawn(bob, SILENT_IMAGE)
    assert f"nothing answered on port 8888 within {SERVER_START_TIMEOUT} s" in message
    assert "SERVER_START_TIMEOUT" in message
    assert SERVER_START_TIMEOUT <= seconds < SERVER_START_TIMEOUT + 15
    wait_until(lambda: not stack.user_containers("bob"), "the silent container to be removed")


def test_a_missing_image_that_cannot_be_pulled_says_so(stack, bob):
    message, seconds = failed_spawn(bob, MISSING_IMAGE)
    assert f"Image {MISSING_IMAGE} is not on this host, and pulling it failed" in message
    assert "docker compose build" in message
    assert seconds < 30


def test_an_image_with_another_jupyterhub_major_version_is_refused_naming_both(stack, bob, docker_client):
    message, seconds = failed_spawn(bob, OLD_JUPYTERHUB_IMAGE)
    assert (
        f"Image {OLD_JUPYTERHUB_IMAGE} has JupyterHub {OLD_JUPYTERHUB}, but this hub runs JupyterHub {HUB_JUPYTERHUB}"
        in message
    )
    assert f"Use an image with JupyterHub {HUB_JUPYTERHUB_MAJOR}.x" in message
    assert seconds < 30
    # Refused before a server container was made; the container that answered the question is gone too.
    assert stack.user_containers("bob") == []
    assert not docker_client.containers.list(all=True, filters={"ancestor": OLD_JUPYTERHUB_IMAGE})


def test_an_image_outside_the_list_is_refused_through_the_api(stack, bob):
    response = bob.api("POST", "/users/bob/server", json={"image": HUB_IMAGE})
    assert response.status_code == 403
    assert f"The image '{HUB_IMAGE}' is not in a profile open to bob" in response.json()["message"]
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    as_admin = admin.api("POST", "/users/bob/server", json={"image": HUB_IMAGE})
    assert as_admin.status_code == 403
    assert stack.user_containers("bob") == []


def test_a_refused_choice_is_forgotten_so_the_admins_start_button_starts_the_default(stack, bob):
    """JupyterHub keeps a start's options for the next start without options; a refused one is not kept."""
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    response = admin.api("POST", "/users/bob/server")
    assert response.status_code in (201, 202), response.text
    record_spawn(bob.ensure_running())
    assert [c.image.tags for c in stack.user_containers("bob")] == [[SINGLEUSER_IMAGE]]
    bob.stop_server()


def test_an_allowed_choice_starts_and_the_admins_start_button_then_works(stack, bob):
    response = bob.api("POST", "/users/bob/server", json={"image": SINGLEUSER_IMAGE})
    assert response.status_code in (201, 202), response.text
    record_spawn(bob.ensure_running())
    [container] = stack.user_containers("bob")
    assert container.image.tags == [SINGLEUSER_IMAGE]
    bob.stop_server()

    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    assert admin.api("POST", "/users/bob/server").status_code in (201, 202)
    record_spawn(bob.ensure_running())
    assert [c.image.tags for c in stack.user_containers("bob")] == [[SINGLEUSER_IMAGE]]
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200
