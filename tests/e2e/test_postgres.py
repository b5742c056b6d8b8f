"""The hub on PostgreSQL (compose/postgres.yml): sessions, servers and tokens survive hub restarts, a killed
database, and the loss of its volume (through a backup); a clear error when the database cannot be used."""

import io
import json
import tarfile
import time

import pytest
import requests

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.network_probe import kernel_of, reaches

POSTGRES = ("compose/postgres.yml",)
RECOVERY_SECONDS = 30
SECRET_IN_POSTGRES = "/run/appliance-database/password"


def psql(stack, sql: str) -> str:
    """A query's rows, as the database's own superuser sees them through the local socket."""
    command = ("exec", "-T", "-u", "postgres", "postgres", "psql", "--dbname=jupyterhub", "-tAc", sql)
    return stack.run_compose(*command).strip()


def with_token(stack, token: str, path: str) -> requests.Response:
    return requests.get(f"{stack.url}/hub/api{path}", headers={"Authorization": f"token {token}"}, timeout=10)


def answer_to(stack, token: str) -> int | str:
    """The HTTP status of the token's /user, or the error that came instead."""
    try:
        return with_token(stack, token, "/user").status_code
    except requests.RequestException as error:
        return type(error).__name__


def network_names(container) -> set[str]:
    container.reload()
    return set(container.attrs["NetworkSettings"]["Networks"])


@pytest.fixture(scope="module")
def stack(stack_factory):
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "dana"}
    return stack_factory(env, overlays=POSTGRES)


@pytest.fixture(scope="module")
def admin(stack) -> HubClient:
    return stack.client_for().login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def dana(stack) -> HubClient:
    client = stack.client_for().login("dana", USER_PASSWORD)
    record_spawn(client.ensure_running())
    return client


@pytest.fixture(scope="module")
def dana_token(admin, dana) -> str:
    response = admin.api("POST", "/users/dana/tokens", json={"note": "postgres e2e", "expires_in": 3600})
    response.raise_for_status()
    return response.json()["token"]


def test_the_hub_keeps_its_state_in_postgresql_on_a_network_user_servers_are_not_on(stack, dana):
    assert sorted(psql(stack, "SELECT name FROM users").split()) == ["admin", "dana"]
    password = stack.run_compose("exec", "-T", "postgres", "cat", SECRET_IN_POSTGRES).strip()
    assert len(password) == 64
    assert password not in stack.run_compose("logs", "--no-color"), "the generated password is in no log"
    assert stack.compose_result("exec", "-T", "hub", "test", "-e", "/data/jupyterhub.sqlite").returncode == 1
    doctor = stack.compose_result("exec", "-T", "hub", "appliance", "doctor")
    assert "PASS  PostgreSQL 15, reachable, schema current" in doctor.stdout, doctor.stdout

    database_network = f"{stack.project}_database"
    assert stack.client.networks.get(database_network).attrs["Internal"] is True
    postgres = stack.client.containers.get(stack.compose.get_container("postgres").ID)
    assert network_names(postgres) == {database_network}
    (server,) = stack.user_containers("dana")
    assert database_network not in network_names(server)
    address = postgres.attrs["NetworkSettings"]["Networks"][database_network]["IPAddress"]
    kernel = kernel_of(dana)
    try:
        assert reaches(kernel, {"the database": (address, 5432)})["the database"] != "open"
    finally:
        kernel.close()


def test_sessions_servers_and_tokens_survive_a_hub_restart(stack, dana, dana_token):
    assert dana.run_once("print(6 * 7)") == "42"
    stack.run_compose("restart", "hub")
    stack.wait_healthy()

    assert dana.whoami() == "dana", "the browser session survived: nobody logs in again"
    assert dana.server_model()["ready"]
    assert dana.run_once("print(6 * 7)") == "42"
    assert with_token(stack, dana_token, "/user").json()["name"] == "dana"


def test_the_hub_recovers_by_itself_when_postgresql_is_killed_and_started(stack, dana, dana_token):
    stack.run_compose("kill", "postgres")
    try:
        # JupyterHub answers 403 (the token cannot be looked up) or 500, or not in time: anything but dana.
        assert answer_to(stack, dana_token) != 200, "the hub cannot answer for dana without its database"
    finally:
        stack.run_compose("start", "postgres")
    started = time.monotonic()
    wait_until(lambda: answer_to(stack, dana_token) == 200, "the hub to answer again", seconds=RECOVERY_SECONDS)
    print(f"the hub answered {time.monotonic() - started:.1f} s after `docker compose start postgres`")
    assert dana.whoami() == "dana"
    assert dana.server_model()["ready"], "the server the hub knew is still known and running"


def test_a_backup_brings_everything_back_after_the_database_volume_is_lost(stack, dana, dana_token):
    streamed = stack.compose_result("exec", "-T", "hub", "appliance", "backup", "--output", "-", binary_input=b"")
    assert streamed.returncode == 0, streamed.stderr
    assert b'pg_dump: dumping contents of table "public.users"' in streamed.stderr
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        names = sorted(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert "jupyterhub.pgdump" in names and "jupyterhub.sqlite" not in names, names
    assert manifest["database"] == "postgresql"

    stack.run_compose("stop", "hub", "postgres")
    stack.run_compose("rm", "-f", "postgres")
    stack.client.volumes.get(f"{stack.project}_postgres-data").remove()
    restored = stack.compose_result("run", "--rm", "-T", "hub", "restore", "-", binary_input=streamed.stdout)
    assert restored.returncode == 0, restored.stderr
    assert b'pg_restore: processing data for table "public.users"' in restored.stderr
    again = stack.compose_result("run", "--rm", "-T", "hub", "restore", "-", binary_input=streamed.stdout)
    assert again.returncode == 1 and b"a restore goes only into an empty database" in again.stderr, again.stderr
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()

    assert dana.whoami() == "dana", "the browser session survived the restore"
    assert with_token(stack, dana_token, "/user").json()["name"] == "dana"
    assert dana.run_once("print(6 * 7)") == "42"


@pytest.mark.parametrize(
    ("environment", "says"),
    [
        ({"DATABASE_URL": "postgresql://"}, "DATABASE_URL='postgresql://': names no host, no user, no database name"),
        (
            {"DATABASE_URL": "postgresql://jupyterhub:wrong-password@postgres:5432/jupyterhub"},
            "PostgreSQL refused the connection: connection failed: connection to server at",
        ),
        (
            {"DATABASE_URL": "postgresql://jupyterhub@127.0.0.1:9/jupyterhub", "DATABASE_WAIT_SECONDS": "3"},
            "PostgreSQL at 127.0.0.1:9 did not answer within 3 s (DATABASE_WAIT_SECONDS)",
        ),
    ],
    ids=["no-host", "wrong-password", "nothing-listens"],
)
def test_a_database_the_hub_cannot_use_stops_it_with_a_message_naming_the_setting(stack, environment, says):
    overrides = [f"--env={name}={value}" for name, value in {"DATABASE_PASSWORD_FILE": "", **environment}.items()]
    result = stack.compose_result("run", "--rm", "-T", "--no-deps", *overrides, "hub", "run")
    assert result.returncode == 2, result.stderr
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "wrong-password" not in result.stderr + result.stdout
