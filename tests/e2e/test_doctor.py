"""`appliance doctor` passes on a healthy stack, and names each thing broken on purpose, with a fix."""

import pytest

from harness.compose import doctor
from harness.credentials import ADMIN_PASSWORD


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD})


def test_a_healthy_stack_passes_every_check(stack):
    code, rows, report = doctor(stack)
    assert code == 0, report
    assert rows == {
        **dict.fromkeys(
            ["settings", "docker socket", "docker broker", "user network", "user images", "GPUs", "hub API from users",
             "network rules", "data dir", "database", "auth"],
            "PASS",
        ),
        "plain HTTP": "WARN",  # the stack serves password logins over plain HTTP on every interface
    }  # fmt: skip
    assert "All checks passed.\n1 warning(s): plain HTTP" in report
    assert "WARNING: the hub takes passwords over plain HTTP on 0.0.0.0:" in stack.logs(), "at every start too"


def test_check_shows_no_password_of_a_database_url(stack):
    url = "postgresql://hub:s3cret-pw@db:5432/jupyterhub"
    shown = stack.run_compose("exec", "-T", "-e", f"DATABASE_URL={url}", "hub", "appliance", "check")
    assert "postgresql+psycopg://hub:<redacted>@db:5432/jupyterhub" in shown, "psycopg 3 is the driver"
    assert "s3cret-pw" not in shown


def test_invalid_settings_are_named_and_the_rest_skipped(stack):
    code, rows, report = doctor(stack, SPAWNER_MODE="k8s")
    assert code == 1
    assert rows["settings"] == "FAIL"
    assert "SPAWNER_MODE='k8s'" in report
    assert set(rows.values()) == {"FAIL", "SKIP"}


def test_a_missing_docker_socket_is_named_and_its_dependents_skipped(stack):
    code, rows, report = doctor(stack, DOCKER_HOST="unix:///var/run/missing.sock")
    assert code == 1
    assert rows["docker socket"] == "FAIL"
    assert "start the Docker broker (`docker compose up -d broker`)" in report
    assert (
        rows["docker broker"]
        == rows["user network"]
        == rows["user images"]
        == rows["hub API from users"]
        == rows["network rules"]
        == "SKIP"
    )
    assert rows["GPUs"] == "SKIP"
    assert rows["database"] == "PASS"


def test_a_hub_outside_the_user_network_is_named(stack, docker_client):
    network, hub = docker_client.networks.get(stack.network), stack.hub_container()
    network.disconnect(hub)
    try:
        code, rows, report = doctor(stack)
    finally:
        network.connect(hub, aliases=["hub"])
    assert code == 1
    assert rows["user network"] == "FAIL"
    assert f"docker network connect --alias hub {stack.network}" in report


def test_user_containers_that_cannot_reach_the_hub_are_named(stack, docker_client):
    network, hub = docker_client.networks.get(stack.network), stack.hub_container()
    network.disconnect(hub)
    network.connect(hub)  # attached, but without the name `hub` that user containers use
    try:
        code, rows, report = doctor(stack)
    finally:
        network.disconnect(hub)
        network.connect(hub, aliases=["hub"])
    assert code == 1
    assert rows["user network"] == "PASS"
    assert rows["hub API from users"] == "FAIL"
    assert "http://hub:8081/hub/api is unreachable" in report


def test_a_missing_user_image_is_named(stack):
    code, rows, report = doctor(stack, SINGLEUSER_IMAGE="appliance-e2e/absent:1")
    assert code == 1
    assert rows["user images"] == "FAIL"
    assert "not on this host and not pullable: appliance-e2e/absent:1" in report
    assert rows["hub API from users"] == "SKIP"


def test_loose_secret_permissions_are_named(stack):
    stack.run_compose("exec", "-T", "hub", "chmod", "644", "/data/secrets/cookie_secret")
    try:
        code, rows, report = doctor(stack)
    finally:
        stack.run_compose("exec", "-T", "hub", "chmod", "600", "/data/secrets/cookie_secret")
    assert code == 1
    assert rows["data dir"] == "FAIL"
    assert "/data/secrets/cookie_secret is 644" in report


def test_an_old_database_schema_is_named(stack):
    stamp_old = (
        "import shutil, sqlite3; shutil.copy('/data/jupyterhub.sqlite', '/data/old-copy.sqlite'); "
        "db = sqlite3.connect('/data/old-copy.sqlite'); "
        "db.execute(\"UPDATE alembic_version SET version_num = '4621fec11365'\"); db.commit()"
    )
    stack.run_compose("exec", "-T", "hub", "python3", "-c", stamp_old)
    try:
        code, rows, report = doctor(stack, DATABASE_URL="sqlite:////data/old-copy.sqlite")
    finally:
        stack.run_compose("exec", "-T", "hub", "rm", "/data/old-copy.sqlite")
    assert code == 1
    assert rows["database"] == "FAIL"
    assert "schema 4621fec11365 is not JupyterHub" in report
    assert "restart the hub: it backs up the database (sqlite copy or pg_dump) and upgrades it" in report


def test_an_incoherent_login_setup_is_named(stack):
    code, rows, report = doctor(
        stack,
        GITHUB_CLIENT_ID="id",
        GITHUB_CLIENT_SECRET="secret",
        ALLOWED_USERS="ann",
        PUBLIC_URL="https://hub.example.org",
        OAUTH_CALLBACK_URL="http://hub.example.org/hub/oauth_callback",
    )
    assert code == 1
    assert rows["auth"] == "FAIL"
    assert "is not on PUBLIC_URL https://hub.example.org" in report


def test_the_probe_container_is_gone_after_the_doctor_and_leaves_no_volume(stack):
    volumes_before = {volume.name for volume in stack.client.volumes.list()}
    code, rows, _ = doctor(stack)
    assert code == 0
    assert rows["hub API from users"] == "PASS"
    assert stack.user_containers() == []
    # The rules helpers and probes run the hub image, which declares VOLUME /data.
    assert {volume.name for volume in stack.client.volumes.list()} == volumes_before


def test_check_refuses_a_volume_template_two_servers_could_share(stack):
    template = "jh-{username}{servername}"
    result = stack.compose_result("exec", "-T", "-e", f"USER_VOLUME={template}", "hub", "appliance", "check")
    assert result.returncode == 2
    assert f"USER_VOLUME='{template}'" in result.stderr and "could share one volume" in result.stderr
    assert "jupyterhub-user-{username}--{servername}" in result.stderr
    assert "Traceback" not in result.stderr
