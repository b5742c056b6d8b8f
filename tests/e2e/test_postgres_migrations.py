"""Moving to PostgreSQL and along with JupyterHub: a database written by JupyterHub 5.4.6 is dumped, then
upgraded in one transaction (rolled back when it fails); a sqlite hub's state is copied by `migrate-db`."""

import json
import subprocess

import pytest
import requests

from appliance import __version__
from harness.compose import HUB_JUPYTERHUB, ROOT, free_port, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.test_postgres import POSTGRES, SECRET_IN_POSTGRES, psql, with_token
from tests.e2e.test_upgrade_and_backup import OLD_JUPYTERHUB, OLD_PYTHON, OLD_SCHEMA


def seed_with_old_jupyterhub(stack, port: int, seeded: dict) -> None:
    """Before the hub first starts: the database, written by JupyterHub 5.4.6 through the published port."""
    stack.run_compose("up", "-d", "--wait", "postgres")
    password = stack.run_compose("exec", "-T", "postgres", "cat", SECRET_IN_POSTGRES).strip()
    url = f"postgresql+psycopg://jupyterhub:{password}@127.0.0.1:{port}/jupyterhub"
    written = subprocess.run(
        [OLD_PYTHON, ROOT / "tests" / "e2e" / "old_hub_seed.py", url], capture_output=True, text=True, check=True
    )
    seeded.update(json.loads(written.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def seeded() -> dict:
    if not OLD_PYTHON.exists():
        pytest.fail(f"JupyterHub {OLD_JUPYTERHUB} is missing at {OLD_PYTHON}: run `make test-e2e`")
    return {}


@pytest.fixture(scope="module")
def upgraded(stack_factory, seeded):
    port = free_port()
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "NAMED_SERVERS": "1", "POSTGRES_TEST_PORT": str(port)}
    return stack_factory(
        env,
        overlays=(*POSTGRES, "tests/e2e/postgres-published.yml"),
        before_start=lambda stack: seed_with_old_jupyterhub(stack, port, seeded),
    )


def dumps_in_hub(stack) -> list[str]:
    return [name for name in stack.run_compose("exec", "-T", "hub", "ls", "/data/backups").split() if ".pgdump" in name]


def test_a_database_of_jupyterhub_5_is_dumped_first_then_upgraded_with_its_data(upgraded, seeded):
    assert seeded["jupyterhub"] == OLD_JUPYTERHUB
    logs = upgraded.logs()
    assert f"The database schema ({OLD_SCHEMA}) is older than JupyterHub {HUB_JUPYTERHUB}'s" in logs
    (dump,) = dumps_in_hub(upgraded)
    assert dump.endswith(f"-schema-{OLD_SCHEMA}-before-{__version__}.pgdump")
    assert logs.index(f"to /data/backups/{dump} (pg_dump)") < logs.index("Upgrading the database, in one transaction")
    assert "Database upgraded to" in logs
    stamp_in_dump = upgraded.run_compose(
        "exec", "-T", "hub", "pg_restore", "--data-only", "--table=alembic_version", "--file=-", f"/data/backups/{dump}"
    )
    assert OLD_SCHEMA in stamp_in_dump, "the dump holds the database from before the upgrade"

    admin = upgraded.client_for().login("admin", ADMIN_PASSWORD)
    alice = with_token(upgraded, seeded["alice_token"], "/user").json()
    assert (alice["name"], alice["groups"]) == ("alice", ["lab"])
    project = admin.api("GET", "/users/alice", params={"include_stopped_servers": "1"}).json()["servers"]["project"]
    assert project["state"] == {"written_by": OLD_JUPYTERHUB}
    assert project["user_options"] == {"profile": "gpu"}


def test_a_failed_upgrade_is_rolled_back_and_names_the_dump(upgraded):
    upgraded.run_compose("stop", "hub")
    # An old stamp on the new schema: the migration then fails on columns that already exist.
    psql(upgraded, f"UPDATE alembic_version SET version_num = '{OLD_SCHEMA}'")
    columns = "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'"
    before = psql(upgraded, columns)

    upgraded.run_compose("start", "hub")
    hub = wait_until(lambda: (h := upgraded.hub_container()).status == "exited" and h, "the hub to stop", seconds=90)

    assert hub.attrs["State"]["ExitCode"] == 2
    assert hub.attrs["RestartCount"] == 0
    logs = upgraded.logs()
    assert f"The transaction was rolled back, so the database is unchanged (schema {OLD_SCHEMA})" in logs
    assert "its dump from before is /data/backups/jupyterhub-" in logs
    assert "Traceback" not in logs
    assert psql(upgraded, "SELECT version_num FROM alembic_version") == OLD_SCHEMA
    assert psql(upgraded, columns) == before


@pytest.fixture(scope="module")
def on_sqlite(stack_factory):
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "dana"}
    return stack_factory({**env, "NAMED_SERVERS": "1"})


def start_named_server(client: HubClient, name: str) -> None:
    response = client.api("POST", f"/users/{client.username}/servers/{name}")
    assert response.status_code in (201, 202), response.text

    def ready():
        return client.api("GET", f"/users/{client.username}").json()["servers"].get(name, {}).get("ready")

    wait_until(ready, f"{client.username}'s server {name} to be ready", seconds=120)


def test_migrate_db_moves_users_groups_tokens_and_named_servers_from_sqlite(on_sqlite):
    stack = on_sqlite
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    dana = stack.client_for().login("dana", USER_PASSWORD)
    assert admin.api("POST", "/groups/lab", json={"users": ["dana"]}).status_code == 201
    token = admin.api("POST", "/users/dana/tokens", json={"note": "before the move"}).json()["token"]
    record_spawn(dana.start_server())
    start_named_server(dana, "project")

    running = stack.compose_result("exec", "-T", "hub", "appliance", "migrate-db")
    assert running.returncode == 1 and "The hub is running" in running.stderr, running.stderr
    stack.run_compose("stop", "hub")
    stack.overlays = POSTGRES
    stack.switch_root(ROOT)
    moved = stack.compose_result("run", "--rm", "-T", "hub", "migrate-db")
    assert moved.returncode == 0, moved.stderr
    assert "  users: 2 row(s)" in moved.stderr and "jupyterhub.sqlite is unchanged" in moved.stderr, moved.stderr
    again = stack.compose_result("run", "--rm", "-T", "hub", "migrate-db")
    assert again.returncode == 1 and "copies only into an empty database" in again.stderr, again.stderr
    stack.run_compose("up", "-d")
    stack.wait_healthy()

    assert sorted(psql(stack, "SELECT name FROM users").split()) == ["admin", "dana"]
    assert stack.compose_result("exec", "-T", "hub", "test", "-f", "/data/jupyterhub.sqlite").returncode == 0
    assert admin.whoami() == "admin", "the browser session moved with the database"
    assert admin.api("GET", "/groups/lab").json()["users"] == ["dana"]
    servers = with_token(stack, token, "/users/dana").json()["servers"]
    assert servers[""]["ready"] and servers["project"]["ready"], servers
    status = requests.get(
        f"{stack.url}/user/dana/project/api/status", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert status.status_code == 200, "the named server still runs and answers the same token"
