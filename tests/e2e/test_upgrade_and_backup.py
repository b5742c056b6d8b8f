"""A database from an older JupyterHub is backed up and upgraded; backups restore after the data is lost;
a failed upgrade leaves the database as it was."""

import io
import json
import subprocess
import tarfile

import pytest

from appliance import __version__
from harness.compose import HUB_JUPYTERHUB, ROOT
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import HubClient, wait_until

OLD_JUPYTERHUB = "5.4.6"
OLD_SCHEMA = "4621fec11365"
OLD_PYTHON = ROOT / ".cache" / f"jupyterhub-{OLD_JUPYTERHUB}" / "bin" / "python"
# Prints the sha256 of the database, after setting its schema stamp when one is given.
DATABASE_TOOL = """
import hashlib, sqlite3, sys
if len(sys.argv) > 1:
    db = sqlite3.connect("/data/jupyterhub.sqlite")
    db.execute("UPDATE alembic_version SET version_num = ?", (sys.argv[1],))
    db.commit()
    db.close()
print(hashlib.sha256(open("/data/jupyterhub.sqlite", "rb").read()).hexdigest())
"""


@pytest.fixture(scope="module")
def old_database(tmp_path_factory) -> tuple[bytes, dict]:
    if not OLD_PYTHON.exists():
        pytest.fail(f"JupyterHub {OLD_JUPYTERHUB} is missing at {OLD_PYTHON}: run `make test-e2e`")
    path = tmp_path_factory.mktemp("old-hub") / "jupyterhub.sqlite"
    seeded = subprocess.run(
        [OLD_PYTHON, ROOT / "tests" / "e2e" / "old_hub_seed.py", path], capture_output=True, text=True, check=True
    )
    return path.read_bytes(), json.loads(seeded.stdout.splitlines()[-1])


def put_database(stack, database: bytes) -> None:
    """Place the old database in the hub's data volume before the hub first starts, owned by root."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("jupyterhub.sqlite")
        member.size, member.mode, member.uid, member.gid = len(database), 0o600, 0, 0
        tar.addfile(member, io.BytesIO(database))
    stack.hub_container().put_archive("/data", archive.getvalue())


@pytest.fixture(scope="module")
def stack(stack_factory, old_database):
    database, _ = old_database
    return stack_factory(
        {"ADMIN_PASSWORD": ADMIN_PASSWORD, "NAMED_SERVERS": "1"},
        before_start=lambda stack: put_database(stack, database),
    )


@pytest.fixture(scope="module")
def admin(stack) -> HubClient:
    return stack.client_for().login("admin", ADMIN_PASSWORD)


def as_token(stack, token: str, path: str) -> dict:
    client = stack.client_for()
    response = client.session.get(f"{stack.url}/hub/api{path}", headers={"Authorization": f"token {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_an_older_jupyterhubs_database_is_backed_up_then_upgraded_keeping_users_and_state(stack, admin, old_database):
    _, seeded = old_database
    assert seeded["jupyterhub"] == OLD_JUPYTERHUB
    logs = stack.logs()
    assert f"The database schema ({OLD_SCHEMA}) is older than JupyterHub {HUB_JUPYTERHUB}'s" in logs
    assert "Database upgraded to" in logs
    backups = stack.run_compose("exec", "-T", "hub", "ls", "/data/backups").split()
    assert any(name.endswith(f"-schema-{OLD_SCHEMA}-before-{__version__}.sqlite") for name in backups), backups

    alice = as_token(stack, seeded["alice_token"], "/user")
    assert (alice["name"], alice["groups"]) == ("alice", ["lab"])
    model = admin.api("GET", "/users/alice", params={"include_stopped_servers": "1"}).json()
    project = model["servers"]["project"]
    assert project["state"] == {"written_by": OLD_JUPYTERHUB}
    assert project["user_options"] == {"profile": "gpu"}


def test_a_backup_taken_while_running_restores_everything_after_the_data_volume_is_lost(stack, admin, old_database):
    _, seeded = old_database
    secrets = {name: stack.read_secret(name) for name in ("cookie_secret", "crypt_key", "proxy_auth_token")}
    in_place = stack.compose_result("exec", "-T", "hub", "appliance", "backup")
    assert in_place.returncode == 0 and "Wrote /data/backups/appliance-backup-" in in_place.stderr, in_place.stderr
    path = in_place.stderr.split("Wrote ", 1)[1].split(". ", 1)[0]
    assert stack.run_compose("exec", "-T", "hub", "stat", "-c", "%a", path).strip() == "600"
    streamed = stack.compose_result("exec", "-T", "hub", "appliance", "backup", "--output", "-", binary_input=b"")
    assert streamed.returncode == 0, streamed.stderr
    archive = streamed.stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = sorted(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    stored = ["secrets/cookie_secret", "secrets/crypt_key", "secrets/proxy_auth_token"]
    assert names == sorted(["manifest.json", "jupyterhub.sqlite", *stored]), "the database and secrets, no user data"
    assert manifest["secrets_from_environment"] == ["ADMIN_PASSWORD"]

    refused = stack.compose_result("exec", "-T", "hub", "appliance", "restore", "-", binary_input=archive)
    assert refused.returncode == 1
    assert b"The hub is running" in refused.stderr and b"docker compose stop hub" in refused.stderr

    stack.run_compose("stop", "hub")
    stack.run_compose("rm", "-f", "hub")
    stack.client.volumes.get(f"{stack.project}_hub-data").remove()
    limited = ("run", "--rm", "-T", "hub", "restore", "--max-size", "1K", "-")
    too_large = stack.compose_result(*limited, binary_input=archive)
    assert too_large.returncode == 1
    assert b"more than the 1024 bytes a restore accepts; nothing was restored" in too_large.stderr
    assert b"appliance restore --max-size 20G" in too_large.stderr
    restored = stack.compose_result("run", "--rm", "-T", "hub", "restore", "-", binary_input=archive)
    assert restored.returncode == 0, restored.stderr
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()

    assert admin.whoami() == "admin", "the browser session survived: nobody logs in again"
    assert as_token(stack, seeded["alice_token"], "/user")["name"] == "alice"
    assert {name: stack.read_secret(name) for name in secrets} == secrets


def test_a_failed_upgrade_leaves_the_database_untouched_and_says_how_to_go_back(stack):
    stack.run_compose("stop", "hub")
    database_tool = ("run", "--rm", "-T", "--entrypoint", "python3", "hub", "-c", DATABASE_TOOL)
    # An old stamp on the new schema: the migration then fails on columns that already exist.
    before = stack.run_compose(*database_tool, OLD_SCHEMA).strip()

    stack.run_compose("start", "hub")
    hub = wait_until(lambda: (h := stack.hub_container()).status == "exited" and h, "the hub to stop", seconds=60)

    assert hub.attrs["State"]["ExitCode"] == 2
    assert hub.attrs["RestartCount"] == 0
    logs = stack.logs()
    assert "Upgrading the database failed" in logs
    assert f"/data/jupyterhub.sqlite is unchanged (schema {OLD_SCHEMA})" in logs
    assert "Go back to the previous appliance version" in logs
    assert stack.run_compose(*database_tool).strip() == before
