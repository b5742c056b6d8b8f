"""Users' files are backed up with restic: every volume snapshotted while servers run, the second backup adding
little; a lost volume comes back whole; a restore into a new folder while the server runs; users restore their own
files on a page of the hub and never see another's; retention prunes; the schedule fires; a wrong password and an
unreachable repository are said clearly while the hub stays up."""

import json
import re
import shutil
import subprocess
import tarfile
import time

import pytest
import requests

from harness.compose import HUB_IMAGE, RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, Stack, doctor
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.canaries import INTERNET, wait_for_listener
from tests.e2e.user_files import checksums, writing

FILES = ("work/data/a.bin", "work/data/deep/b.bin", "work/notes.txt", ".gitconfig", ".ssh/id_ed25519")
METRICS_TOKEN = "backups-metrics-token-0123456789abcdef"
# Each volume keeps its last two snapshots: the third backup forgets the first.
KEEP = "last=2"
# A profile's shared volume (the appliance makes it at the first spawn), in the backups with BACKUP_SHARED_VOLUMES.
SCRATCH_VOLUME = f"appliance-e2e-backup-scratch-{RUN_ID}"
PROFILES = f"""\
profiles:
  - name: class
    display_name: Class
    default: true
    volumes:
      - {{name: {SCRATCH_VOLUME}, mount_path: /home/jovyan/scratch, read_only: false}}
"""


def code_writing(seed: int) -> str:
    return writing("/home/jovyan", FILES, seed)


def code_checksums(root: str = "/home/jovyan") -> str:
    return checksums(root, FILES)


@pytest.fixture(scope="module")
def repository(tmp_path_factory, docker_client):
    """A host folder for the restic repository; restic's helper (root) fills it, so a container empties it."""
    folder = tmp_path_factory.mktemp("restic-repository")
    yield folder
    docker_client.containers.run(
        SINGLEUSER_IMAGE, ["sh", "-c", "rm -rf /repository/* /repository/.[!.]*"], entrypoint=[], user="0",
        network_mode="none", remove=True, labels={TEST_RUN_LABEL: RUN_ID},
        volumes={str(folder): {"bind": "/repository", "mode": "rw"}},
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(stack_factory, repository, tmp_path_factory) -> Stack:
    profiles_dir = tmp_path_factory.mktemp("profiles")
    (profiles_dir / "profiles.yml").write_text(PROFILES)
    return stack_factory(
        {
            "PROFILES_DIR": str(profiles_dir),
            "BACKUP_SHARED_VOLUMES": "true",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "alice,bob",
            "BACKUP_REPOSITORY": str(repository),
            "BACKUP_SCHEDULE": "off",
            "BACKUP_KEEP": KEEP,
            "METRICS_TOKEN": METRICS_TOKEN,
        }
    )


@pytest.fixture(scope="module")
def users(stack) -> dict[str, tuple[HubClient, str]]:
    """alice and bob with files of every kind, their servers running; each with the checksums of their files."""
    found = {}
    for seed, name in enumerate(("alice", "bob")):
        client = stack.client_for().login(name, USER_PASSWORD)
        client.ensure_running()
        client.run_once(code_writing(seed))
        found[name] = (client, client.run_once(code_checksums()))
    return found


def appliance(stack: Stack, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    flags = [part for key, value in (env or {}).items() for part in ("-e", f"{key}={value}")]
    return stack.compose_result("exec", "-T", *flags, "hub", "appliance", *args)


def backed_up(stack: Stack) -> str:
    result = appliance(stack, "backup", "--users")
    assert result.returncode == 0, result.stderr
    return result.stderr


def repository_bytes(folder) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def snapshot_rows(stack: Stack, user: str) -> list[list[str]]:
    result = appliance(stack, "snapshots", "--user", user)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "TIME", "(UTC)", "KIND", "USER", "SERVER", "VOLUME"]
    return [row.split() for row in rows]


@pytest.fixture(scope="module")
def two_backups(stack, users, repository) -> dict[str, int | str]:
    """Two backups in a row while the servers run: the repository's size after each, and the first's summary."""
    first = backed_up(stack)
    after_first = repository_bytes(repository)
    backed_up(stack)
    return {"summary": first, "first": after_first, "second": repository_bytes(repository)}


def test_a_backup_snapshots_every_users_volume_while_servers_run(stack, users, two_backups):
    assert re.search(r"Backed up 2 user\(s\): [\d.]+ MB new, [\d.]+ MB in all, in \d+ s", two_backups["summary"])
    assert all(client.server_model()["ready"] for client, _ in users.values()), "the servers kept running"
    for name in ("alice", "bob"):
        rows = snapshot_rows(stack, name)
        assert len(rows) == 2 and {row[6] for row in rows} == {stack.volume_name(name)}
        assert all(row[3:5] == ["user", name] for row in rows), "only the user's own snapshots are listed"


def test_the_second_backup_adds_under_2_mb(two_backups):
    assert two_backups["first"] > 0
    assert two_backups["second"] - two_backups["first"] < 2 * 1024**2


def test_the_hub_database_and_shared_volumes_are_in_the_same_repository(stack, two_backups):
    result = appliance(stack, "snapshots")
    assert result.returncode == 0, result.stderr
    rows = [row.split() for row in result.stdout.splitlines()[1:]]
    assert len([row for row in rows if row[3] == "hub"]) == 2
    assert [row[6] for row in rows if row[3] == "shared"] == [SCRATCH_VOLUME] * 2


def test_the_hubs_dump_comes_back_with_restic_alone(stack, repository, docker_client, two_backups, tmp_path):
    """docs/backups.md's recipe: restic dump of the newest hub snapshot gives `appliance restore`'s archive."""
    password = appliance(stack, "backup", "--show-password").stdout.strip()
    dump = "restic -r /repository --no-cache --no-lock dump --tag kind=hub latest /hub-dumps/appliance-backup.tar.gz"
    docker_client.containers.run(
        HUB_IMAGE, ["sh", "-c", f"{dump} > /out/hub.tar.gz && chmod 644 /out/hub.tar.gz"], entrypoint=[], user="0",
        network_mode="none", remove=True, environment={"RESTIC_PASSWORD": password}, labels={TEST_RUN_LABEL: RUN_ID},
        volumes={str(repository): {"bind": "/repository", "mode": "ro"}, str(tmp_path): {"bind": "/out", "mode": "rw"}},
    )  # fmt: skip
    with tarfile.open(tmp_path / "hub.tar.gz", mode="r:gz") as tar:
        assert {"manifest.json", "jupyterhub.sqlite"} <= set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["format"] == "jupyterhub-appliance-backup/1"


def test_a_restore_into_a_folder_while_the_server_runs(stack, users, two_backups):
    alice, original = users["alice"]
    result = appliance(stack, "restore-user", "alice", "--into", "recovered")
    assert result.returncode == 0, result.stderr
    assert alice.server_model()["ready"]
    assert alice.run_once(code_checksums("/home/jovyan/recovered"), notebook="restored.ipynb") == original
    owner = alice.run_once("import os; print(os.stat('/home/jovyan/recovered').st_uid)", notebook="owner.ipynb")
    assert owner == "1000", "the restored folder is the user's"
    again = appliance(stack, "restore-user", "alice", "--into", "recovered")
    assert again.returncode == 0 and "recovered-2" in again.stderr, "a second restore never overwrites the first"


def test_users_restore_their_own_files_on_the_hubs_page(stack, users, two_backups):
    alice, original = users["alice"]
    page = alice.session.get(f"{alice.base_url}/services/backups/", timeout=30)
    assert page.status_code == 200 and "Backups of alice" in page.text
    ids = re.findall(r'name="snapshot" value="([0-9a-f]{64})"', page.text)
    assert len(ids) == 2
    restored = alice.post_form("/services/backups/", {"snapshot": ids[0], "folder": "work/data"})
    assert restored.status_code == 200, restored.text
    into = re.search(r"into (restored-[\d-]+) in the home", restored.text)[1]
    listed = alice.run_once(f"import os; print(sorted(os.listdir('/home/jovyan/{into}')))", notebook="page.ipynb")
    assert listed == "['work']", "only the folder asked for, in its place"
    sums = alice.run_once(checksums(f"/home/jovyan/{into}", FILES[:2]), notebook="page-sums.ipynb")
    assert sums.splitlines() == original.splitlines()[:2]


def test_nobody_sees_or_restores_another_users_snapshots(stack, users, two_backups):
    alice, bob = users["alice"][0], users["bob"][0]
    bobs_page = bob.session.get(f"{bob.base_url}/services/backups/", timeout=30)
    bobs_id = re.findall(r'name="snapshot" value="([0-9a-f]{64})"', bobs_page.text)[0]
    assert bobs_id not in alice.session.get(f"{alice.base_url}/services/backups/", timeout=30).text
    refused = alice.post_form("/services/backups/", {"snapshot": bobs_id, "folder": ""})
    assert refused.status_code == 400 and "alice has no snapshot" in refused.text
    assert alice.session.get(f"{alice.base_url}/services/backups/?user=bob", timeout=30).status_code == 403
    as_bob = alice.post_form("/services/backups/?user=bob", {"snapshot": bobs_id, "user": "bob"},
                             form_page="/services/backups/")  # fmt: skip
    assert as_bob.status_code == 403


def test_an_admin_sees_and_restores_any_users_snapshots(stack, users, two_backups):
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    page = admin.session.get(f"{admin.base_url}/services/backups/?user=bob", timeout=30)
    assert page.status_code == 200 and "Backups of bob" in page.text
    ids = re.findall(r'name="snapshot" value="([0-9a-f]{64})"', page.text)
    assert len(ids) == 2
    restored = admin.post_form("/services/backups/?user=bob", {"snapshot": ids[0], "folder": ".gitconfig",
                               "user": "bob"}, form_page="/services/backups/?user=bob")  # fmt: skip
    assert restored.status_code == 200 and "Restored 1 file(s)" in restored.text, restored.text


def test_a_lost_volume_comes_back_whole_and_others_are_untouched(stack, users, two_backups, docker_client):
    alice, original = users["alice"]
    bob, bobs_original = users["bob"]
    alice.stop_server()
    wait_until(lambda: not stack.user_containers("alice"), "alice's container to go")
    docker_client.volumes.get(stack.volume_name("alice")).remove()
    result = appliance(stack, "restore-user", "alice", "--replace")
    assert result.returncode == 0, result.stderr
    alice.ensure_running()
    assert alice.run_once(code_checksums(), notebook="replaced.ipynb") == original
    assert bob.run_once(code_checksums(), notebook="bob-after.ipynb") == bobs_original
    refused = appliance(stack, "restore-user", "alice", "--replace")
    assert refused.returncode == 1 and "stop it first" in refused.stderr, "a running server's volume is not refilled"


def test_retention_prunes_and_metrics_and_doctor_tell(stack, users, two_backups):
    summary = backed_up(stack)
    assert "`appliance backup --users` backed up 2 user(s)" in stack.logs(), "a command's run is in the hub's log too"
    assert re.search(r"forgot [1-9]\d* snapshot", summary)
    assert len(snapshot_rows(stack, "bob")) == 2, f"BACKUP_KEEP={KEEP} keeps two per volume"
    metrics = requests.get(f"{stack.url}/hub/metrics", headers={"Authorization": f"token {METRICS_TOKEN}"}, timeout=30)
    last = re.search(r"^appliance_backup_last_success_timestamp_seconds ([\d.e+]+)$", metrics.text, re.MULTILINE)
    assert last and time.time() - float(last[1]) < 600
    assert re.search(r'^appliance_backup_bytes_total\{user="bob"\} [1-9]', metrics.text, re.MULTILINE)
    _, rows, report = doctor(stack)
    assert rows.get("backups") == "PASS", report


def test_a_wrong_password_is_said_and_the_hub_stays_up(stack, two_backups):
    result = appliance(stack, "snapshots", env={"BACKUP_PASSWORD": "not-the-repository-password"})
    assert result.returncode == 1
    assert "BACKUP_PASSWORD is not the repository's password" in result.stderr
    assert "not-the-repository-password" not in result.stderr
    assert requests.get(f"{stack.url}/hub/health", timeout=10).ok


def test_the_password_is_shown_on_demand_and_logged_only_once(stack, two_backups):
    password = appliance(stack, "backup", "--show-password").stdout.strip()
    assert len(password) >= 32
    assert stack.logs().count(password) == 1, "the first start logs it once, with the keep-it-safe line"
    assert "KEEP THIS SAFE" in stack.logs()


def test_the_schedule_fires(stack, two_backups):
    before = len(snapshot_rows(stack, "bob"))
    stack.change_env(BACKUP_SCHEDULE="10s", BACKUP_KEEP="last=5")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    wait_until(lambda: "Scheduled backup: 2 user(s)" in stack.logs(), "a scheduled backup", seconds=180)
    assert len(snapshot_rows(stack, "bob")) > before


@pytest.fixture(scope="module")
def unreachable(stack_factory) -> Stack:
    """A hub whose repository URL answers nowhere (the helper's own loopback), backing up every 10 s."""
    return stack_factory.beside({"ADMIN_PASSWORD": ADMIN_PASSWORD, "BACKUP_REPOSITORY": "rest:http://127.0.0.1:9/",
                                 "BACKUP_SCHEDULE": "10s"})  # fmt: skip


def test_an_unreachable_repository_never_stops_the_hub(unreachable):
    wait_until(lambda: "Scheduled backup failed" in unreachable.logs(), "a failed scheduled backup", seconds=120)
    assert requests.get(f"{unreachable.url}/hub/health", timeout=10).ok
    code, rows, report = doctor(unreachable)
    assert rows.get("backups") == "FAIL" and code == 1, report
    result = appliance(unreachable, "backup", "--users")
    assert result.returncode == 1 and "connection refused" in result.stderr.lower(), result.stderr


REST_PORT = 8000
REST_PASSWORD = "rest-server-password-never-shown"


@pytest.fixture(scope="module")
def rest_server(canaries, tmp_path_factory):
    """A restic REST repository (`rclone serve restic`, Debian's rclone) with basic auth, at the "internet" address
    of this run's canary namespace: a remote repository that the helpers reach over the instance's network."""
    folder = tmp_path_factory.mktemp("rest-repository")
    command = ["ip", "netns", "exec", canaries.namespace, "rclone", "serve", "restic", "--addr",
               f"{INTERNET}:{REST_PORT}", "--user", "lab", "--pass", REST_PASSWORD, str(folder)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_listener(INTERNET, REST_PORT)
        yield folder
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def remote(stack_factory, rest_server) -> Stack:
    return stack_factory.beside({
        "ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "carol",
        "BACKUP_REPOSITORY": f"rest:http://lab:{REST_PASSWORD}@{INTERNET}:{REST_PORT}/", "BACKUP_SCHEDULE": "off",
    })  # fmt: skip


def test_a_remote_repository_backs_up_and_restores_and_its_password_is_never_shown(remote, rest_server):
    carol = remote.client_for().login("carol", USER_PASSWORD)
    carol.ensure_running()
    carol.run_once(code_writing(7))
    original = carol.run_once(code_checksums())
    backup = appliance(remote, "backup", "--users")
    assert backup.returncode == 0, backup.stderr
    assert "Backed up 1 user(s)" in backup.stderr and any(rest_server.rglob("snapshots/*")), "in the remote repository"
    restored = appliance(remote, "restore-user", "carol", "--into", "from-remote")
    assert restored.returncode == 0, restored.stderr
    assert carol.run_once(code_checksums("/home/jovyan/from-remote"), notebook="remote.ipynb") == original
    shown = backup.stdout + backup.stderr + restored.stderr + appliance(remote, "check").stdout + remote.logs()
    assert REST_PASSWORD not in shown and f"rest:http://lab:<redacted>@{INTERNET}" in backup.stderr
