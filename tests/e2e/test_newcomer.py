"""A newcomer runs `docker compose up`, logs in with the password from the log, and their work persists."""

import re

import pytest

from harness.compose import SINGLEUSER_IMAGE, record_spawn
from harness.hub_client import HubClient, wait_until

NOTEBOOK = "hello.ipynb"


@pytest.fixture(scope="module")
def stack(stack_factory):
    # Only the published port differs from a plain `docker compose up`.
    return stack_factory()


@pytest.fixture(scope="module")
def admin_password(stack):
    banner = re.search(r"password:\s+(\S+)", stack.logs())
    assert banner, "the first start did not log the admin password"
    return banner.group(1)


@pytest.fixture(scope="module")
def admin(stack, admin_password) -> HubClient:
    return stack.client_for().login("admin", admin_password)


def test_admin_logs_in_with_the_logged_password_and_it_is_stored(stack, admin_password, admin):
    assert admin.whoami() == "admin"
    assert stack.read_secret("admin_password") == admin_password
    assert len(admin_password) >= 32


def test_secrets_are_stored_privately_and_never_logged(stack):
    logs = stack.logs()
    for name in ("cookie_secret", "proxy_auth_token", "crypt_key"):
        secret = stack.read_secret(name)
        assert len(secret) == 64
        assert secret not in logs
    modes = stack.run_compose(
        "exec",
        "-T",
        "hub",
        "stat",
        "-c",
        "%a %n",
        "/data/secrets",
        *[f"/data/secrets/{name}" for name in ("admin_password", "cookie_secret", "proxy_auth_token", "crypt_key")],
    )
    assert [line.split()[0] for line in modes.splitlines()] == ["700", "600", "600", "600", "600"]


def test_code_runs_in_the_users_own_container_as_uid_1000(stack, admin):
    spawn = admin.start_server()
    record_spawn(spawn)
    assert spawn.events[-1]["ready"] is True
    lab = admin.open_lab()
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    admin.create_notebook(NOTEBOOK)
    kernel = admin.start_kernel(NOTEBOOK)
    printed = kernel.run("import os, socket; print(socket.gethostname(), os.getuid(), os.getcwd())")
    kernel.close()

    [container] = stack.user_containers("admin")
    assert container.name == stack.server_name("admin")
    assert container.image.tags == [SINGLEUSER_IMAGE]
    hostname, uid, cwd = printed.split()
    assert hostname == container.attrs["Config"]["Hostname"]
    assert uid == "1000"
    assert cwd == "/home/jovyan/work"


def test_user_container_is_labelled_and_gets_no_hub_environment(stack, admin):
    record_spawn(admin.ensure_running())
    [container] = stack.user_containers("admin")
    labels = container.labels
    assert labels["jupyterhub-appliance.instance"] == stack.project
    assert labels["jupyterhub-appliance.server"] == ""
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    for hub_only in ("CONFIGPROXY_AUTH_TOKEN", "JPY_COOKIE_SECRET", "JUPYTERHUB_CRYPT_KEY", "ADMIN_PASSWORD"):
        assert hub_only not in env
    assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
    host = container.attrs["HostConfig"]
    assert (host["Memory"], host["CpuQuota"], host["PidsLimit"]) == (2 * 1024**3, 100_000, 512)
    assert (host["SecurityOpt"], host["CapDrop"], host["Privileged"]) == (["no-new-privileges"], ["ALL"], False)
    assert host["ReadonlyRootfs"] is False
    [volume] = stack.user_volumes()
    assert volume.name == stack.volume_name("admin")
    assert volume.attrs["Labels"]["jupyterhub-appliance.user"] == "admin"


def test_a_file_survives_stopping_and_starting_the_server(stack, admin):
    record_spawn(admin.ensure_running())
    admin.put_file("notes.txt", "kept across restarts")
    first_container = stack.user_containers("admin")[0].id
    admin.stop_server()
    wait_until(lambda: not stack.user_containers("admin"), "the stopped container to be removed")

    record_spawn(admin.ensure_running())
    assert stack.user_containers("admin")[0].id != first_container
    assert admin.read_file("notes.txt") == "kept across restarts"


def test_hub_restart_keeps_the_server_kernel_and_browser_session(stack, admin):
    record_spawn(admin.ensure_running())
    kernel = admin.start_kernel(NOTEBOOK)
    kernel.run("remembered = 6 * 7")
    server_container = stack.user_containers("admin")[0].id

    stack.run_compose("restart", "hub")
    stack.wait_healthy()

    assert admin.whoami() == "admin"
    assert stack.user_containers("admin")[0].id == server_container
    # The proxy restarted with the hub, so open websockets dropped; JupyterLab reconnects like this.
    kernel.close()
    reconnected = admin.connect_kernel(kernel.id)
    assert reconnected.run("print(remembered)") == "42"
    reconnected.close()


def test_recreating_the_hub_keeps_users_secrets_and_files(stack, admin, admin_password):
    record_spawn(admin.ensure_running())
    admin.put_file("before-recreate.txt", "still here")
    secrets = {name: stack.read_secret(name) for name in ("cookie_secret", "proxy_auth_token", "crypt_key")}
    old_hub = stack.hub_container().id

    stack.run_compose("up", "-d", "--force-recreate", "hub")
    stack.wait_healthy()

    assert stack.hub_container().id != old_hub
    assert {name: stack.read_secret(name) for name in secrets} == secrets
    assert "First start" not in stack.logs().split("Admin login")[-1]
    assert admin.whoami() == "admin"
    assert admin.read_file("before-recreate.txt") == "still here"
    fresh = stack.client_for().login("admin", admin_password)
    assert fresh.whoami() == "admin"
