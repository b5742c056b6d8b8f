"""Backups of users' files, without Docker: the settings and their problems, the hub's backups service and the
users' role, the schedule, which snapshots a restore takes, the doctor's verdict, the metrics, and the restic
helper's placing of restored files."""

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from traitlets.config import Config

from appliance import docker_host
from appliance.commands.user_backups import ProgressBar
from appliance.concerns.backups import recent_enough
from appliance.helpers import restic_volumes
from appliance.hub_config import apply
from appliance.kinds import Invalid
from appliance.secret_store import needed
from appliance.settings import SettingsError, load
from appliance.storage import backups
from appliance.storage.backup_kinds import BackupRepository, BackupRetention, BackupSchedule
from appliance.storage.backup_metrics import BackupMetrics
from appliance.storage.backup_service import SERVICE_SETTINGS, Scheduler, service_environment
from appliance.storage.backups import BackupError, RunStatus, Snapshot
from tests.unit.fake_engine import FakeEngine

SECRETS = {
    "JPY_COOKIE_SECRET": "ab" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "p" * 64,
    "JUPYTERHUB_CRYPT_KEY": "cd" * 32,
    "ADMIN_PASSWORD": "x" * 32,
}
BACKED_UP = {**SECRETS, "BACKUP_REPOSITORY": "/srv/backups"}
NOW = 1_800_000_000.0


def problems_of(environ: dict[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as raised:
        load(environ)
    return {problem.name: str(problem) for problem in raised.value.problems}


@pytest.mark.parametrize("raw", ["/srv/backups", "s3:https://s3.example.org/bucket", "rest:http://h:8000/"])
def test_a_repository_is_a_host_folder_or_a_restic_url(raw):
    repository = BackupRepository()(raw)
    assert str(repository) == raw and repository.host_path == (raw if raw.startswith("/") else "")


@pytest.mark.parametrize("raw", ["relative/path", "/", "/srv/../etc", "/srv/backups/", "ftp://host/x", "s3:"])
def test_other_repositories_are_refused_saying_what_is_allowed(raw):
    with pytest.raises(Invalid, match="an absolute folder on the host, or a restic repository URL"):
        BackupRepository()(raw)


def test_backends_whose_credentials_the_helpers_cannot_carry_are_refused_with_the_alternatives():
    with pytest.raises(Invalid, match=r"sftp: backend needs files or programs .* rest-server, or use s3:"):
        BackupRepository()("sftp:backup@host:/srv/restic")


def test_an_s3_repository_needs_both_keys_which_only_it_takes():
    s3 = {**BACKED_UP, "BACKUP_REPOSITORY": "s3:https://s3.example.org/bucket"}
    assert set(problems_of({**s3, "BACKUP_S3_ACCESS_KEY_ID": "key"})) == {"BACKUP_S3_SECRET_ACCESS_KEY"}
    assert "only for an s3:" in problems_of({**BACKED_UP, "BACKUP_S3_ACCESS_KEY_ID": "key"})["BACKUP_S3_ACCESS_KEY_ID"]
    keys = {"BACKUP_S3_ACCESS_KEY_ID": "key", "BACKUP_S3_SECRET_ACCESS_KEY": "secret"}
    assert backups.s3_keys(load({**s3, **keys})) == {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret"}


def test_a_schedule_is_a_time_of_day_an_interval_or_off():
    last = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    daily = BackupSchedule()("02:30")
    assert daily.next_run(last) == datetime(2026, 12, 8, 2, 30, tzinfo=UTC)
    assert daily.next_run(last.replace(hour=1)) == datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    hourly = BackupSchedule()("6h")
    assert hourly.next_run(last) == last + timedelta(hours=6)
    assert hourly.period_seconds == 6 * 3600 and daily.period_seconds == 86400
    assert BackupSchedule()("off") is None


def test_the_scheduler_runs_after_the_last_run_or_attempt(tmp_path):
    settings = load({**BACKED_UP, "DATA_DIR": str(tmp_path), "BACKUP_SCHEDULE": "1h"})
    scheduler = Scheduler(settings)
    assert scheduler.due() == scheduler.started, "an interval schedule with no run yet runs at once"
    backups.write_status(settings, RunStatus(last_run=NOW))
    assert scheduler.due() == datetime.fromtimestamp(NOW + 3600, UTC)
    scheduler.attempted = NOW + 100  # refused: a command's run held the lock
    assert scheduler.due() == datetime.fromtimestamp(NOW + 3700, UTC)
    daily = Scheduler(load({**BACKED_UP, "DATA_DIR": str(tmp_path / "new"), "BACKUP_SCHEDULE": "02:00"}))
    assert daily.due() > daily.started and daily.due().hour == 2


@pytest.mark.parametrize("raw", ["2:30", "24:00", "5s", "1w", "daily", "-1h"])
def test_bad_schedules_are_refused(raw):
    with pytest.raises(Invalid, match="off, a time of day in UTC"):
        BackupSchedule()(raw)


def test_retention_is_restics_keep_periods():
    assert BackupRetention()("daily=7, weekly=4,monthly=6").keep == (("daily", 7), ("weekly", 4), ("monthly", 6))
    for raw in ("daily=0", "fortnightly=2", "daily=7,daily=3", "daily"):
        with pytest.raises(Invalid, match="PERIOD=COUNT"):
            BackupRetention()(raw)


def test_backup_options_without_a_repository_are_problems():
    found = problems_of({"BACKUP_KEEP": "last=3", "BACKUP_SCHEDULE": "6h", "ADMIN_PASSWORD": "x" * 32})
    assert set(found) == {"BACKUP_KEEP", "BACKUP_SCHEDULE"}
    assert "means nothing without BACKUP_REPOSITORY" in found["BACKUP_KEEP"]


def test_backups_are_of_docker_modes_volumes_only():
    found = problems_of({**BACKED_UP, "SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"})
    assert "only SPAWNER_MODE=docker has" in found["BACKUP_REPOSITORY"]


def test_the_backup_password_is_needed_only_with_a_repository():
    assert "BACKUP_PASSWORD" in [secret.name for secret in needed(load(BACKED_UP))]
    assert "BACKUP_PASSWORD" not in [secret.name for secret in needed(load({"ADMIN_PASSWORD": "x" * 32}))]


def test_the_hub_runs_the_backups_service_and_users_may_open_its_page():
    c = Config()
    apply(load(BACKED_UP), c)
    (service,) = [one for one in c.JupyterHub.services if one["name"] == "backups"]
    assert service["url"] == "http://127.0.0.1:8082" and service["command"][-1] == "backups-service"
    assert service["oauth_no_confirm"]
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"][0] == "self" and roles["user"]["scopes"][-1] == "access:services!service=backups"
    assert roles["backups"]["scopes"] == [], "the service needs no API access"


def test_without_a_repository_there_is_no_service_and_the_users_role_is_jupyterhubs():
    c = Config()
    apply(load({**SECRETS, "SHARING": "off"}), c)
    assert "backups" not in [one["name"] for one in c.JupyterHub.services]
    assert "user" not in [role["name"] for role in c.JupyterHub.load_roles]


def test_the_service_reads_the_hubs_backup_settings_from_its_environment(tmp_path):
    chosen = {"BACKUP_SCHEDULE": "off", "BACKUP_KEEP": "last=3", "BACKUP_SHARED_VOLUMES": "true",
              "ALLOWED_IMAGES": "quay.io/jupyter/base-notebook:2025-01-06", "BACKUP_PASSWORD": "p" * 20}  # fmt: skip
    settings = load({**BACKED_UP, **chosen})
    environment = service_environment(settings)
    again = load(environment, only=SERVICE_SETTINGS)
    assert {name: again[name] for name in SERVICE_SETTINGS} == {name: settings[name] for name in SERVICE_SETTINGS}
    assert environment["BACKUP_SCHEDULE"] == "off"


def snapshot(user: str, volume: str, hour: int, kind: str = "user") -> Snapshot:
    found = {
        "id": f"{user[0]}{hour:02d}" + "0" * 61,
        "time": f"2026-12-07T{hour:02d}:00:00.123456789+00:00",
        "paths": [f"/volumes/{volume}"],
        "tags": [f"kind={kind}", f"volume={volume}", f"user={user}", "server="],
    }
    return Snapshot.from_restic({**found, "time": found["time"][:26] + "+00:00"})


def test_latest_is_the_newest_snapshot_of_each_of_the_users_volumes():
    found = [snapshot("alice", "a", 1), snapshot("alice", "a-lab", 2), snapshot("alice", "a", 3)]
    chosen = backups.chosen_snapshots([*found, snapshot("bob", "b", 4)], "alice", "latest")
    assert [(one.volume, one.time.hour) for one in chosen] == [("a", 3), ("a-lab", 2)]


def test_a_user_name_with_a_comma_stays_one_tag_and_reads_back():
    item = backups.Item("v", "/volumes/v", "user", "a,b", "lab one")
    tags = item.tags("course")
    assert "user=a%2Cb" in tags and not any(tag == "user=a" for tag in tags) and "," not in "".join(tags)
    found = Snapshot.from_restic({"id": "1" * 64, "time": "2026-12-07T01:00:00+00:00", "paths": ["/volumes/v"],
                                  "tags": tags})  # fmt: skip
    assert (found.user, found.server) == ("a,b", "lab one")


def test_a_snapshot_by_id_must_be_the_users_own():
    found = [snapshot("alice", "a", 1), snapshot("bob", "b", 2)]
    assert backups.chosen_snapshots(found, "alice", "a01")[0].user == "alice"
    with pytest.raises(BackupError, match="alice has no snapshot 'b02'"):
        backups.chosen_snapshots(found, "alice", "b02")
    with pytest.raises(BackupError, match="no snapshot of carol's files"):
        backups.chosen_snapshots(found, "carol", "latest")


@pytest.mark.parametrize("folder", ["../bob", "work/../../etc", ".."])
def test_a_folder_to_restore_stays_inside_the_home(folder):
    with pytest.raises(BackupError, match="is not a folder inside the home"):
        backups.safe_folder(folder)
    assert backups.safe_folder("/work/data/") == "work/data" and backups.safe_folder("") == ""


def test_the_helpers_lines_never_show_a_repository_urls_password():
    line = (
        b"restic failed: Fatal: unable to open config file: Get rest:https://lab:hunter2-secret@backup.example/config"
    )
    assert "hunter2-secret" not in backups.helper_line(line)


def test_restics_words_come_with_what_to_do():
    assert "BACKUP_PASSWORD is not the repository's password" in backups.plain_error(
        "restic failed: Fatal: wrong password or no key found"
    )


DAILY = load({**BACKED_UP, "BACKUP_SCHEDULE": "02:00"})


@pytest.mark.parametrize(
    ("hours_since_success", "last_error", "verdict"),
    [(20, "", "PASS"), (50, "", "WARN"), (100, "", "FAIL"), (20, "unreachable", "WARN")],
)
def test_the_doctor_warns_past_two_periods_and_fails_past_four(hours_since_success, last_error, verdict):
    status = RunStatus(last_run=NOW - 600, last_success=NOW - hours_since_success * 3600, last_error=last_error)
    outcome = recent_enough(DAILY, status, "/srv/backups", NOW)
    assert outcome.label == verdict


def test_the_metrics_tell_the_last_success_and_each_users_bytes(tmp_path):
    settings = load({**BACKED_UP, "DATA_DIR": str(tmp_path)})
    backups.write_status(settings, RunStatus(last_run=NOW, last_success=NOW + 5, duration_seconds=5,
                                             users={"alice": {"bytes_added": 10, "bytes_total": 200}}))  # fmt: skip
    registry = CollectorRegistry()
    registry.register(BackupMetrics(settings))
    text = generate_latest(registry).decode()
    assert "appliance_backup_last_success_timestamp_seconds 1.800000005e+09" in text
    assert 'appliance_backup_bytes_total{user="alice"} 200.0' in text
    assert "appliance_backup_last_run_failed 0.0" in text


def test_a_restored_folder_lands_in_a_new_folder_of_the_home_never_over_anything(tmp_path):
    home = tmp_path / "home"
    copy = tmp_path / "copy" / "work" / "data"
    copy.mkdir(parents=True)
    (copy / "a.txt").write_text("a")
    (home / "restored-x").mkdir(parents=True)
    target = restic_volumes.free_place(home, "restored-x")
    assert target.name == "restored-x-2", "the name taken is left alone"
    restic_volumes.put_into(copy, target, "work/data", home)
    assert (home / "restored-x-2" / "work" / "data" / "a.txt").read_text() == "a"
    assert (home / "restored-x-2" / "work").stat().st_uid == home.stat().st_uid


def test_a_whole_home_lands_with_its_entries_at_the_top_of_the_new_folder(tmp_path):
    home, copy = tmp_path / "home", tmp_path / "copy"
    (copy / ".config").mkdir(parents=True)
    (copy / ".bashrc").write_text("b")
    home.mkdir()
    restic_volumes.put_into(copy, home / "restored", "", home)
    assert sorted(os.listdir(home / "restored")) == [".bashrc", ".config"]


def test_progress_is_one_bar_on_a_terminal_and_lines_elsewhere(capsys):
    bar = ProgressBar(terminal=True)
    bar("  10.0 of 100.0 MB (10%)")
    bar("Backed up")
    assert capsys.readouterr().err == "\r  [###...........................] 10.0 of 100.0 MB (10%)\nBacked up\n"
    ProgressBar(terminal=False)("  10.0 of 100.0 MB (10%)")
    assert capsys.readouterr().err == "  10.0 of 100.0 MB (10%)\n"


def test_the_status_file_survives_a_bad_one(tmp_path):
    settings = load({**BACKED_UP, "DATA_DIR": str(tmp_path)})
    path = Path(tmp_path) / "backups" / "users-backup-status.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert backups.read_status(settings) == RunStatus()
    backups.write_status(settings, RunStatus(last_run=1.0))
    assert json.loads(path.read_text())["last_run"] == 1.0


def test_a_restore_says_what_has_landed_while_restic_works(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(restic_volumes, "PROGRESS_SECONDS", 0.01)
    (tmp_path / "a.bin").write_bytes(b"x" * 2_000_000)
    said = ""
    with restic_volumes.Restoring(tmp_path):
        deadline = time.monotonic() + 10
        while "restored so far" not in said and time.monotonic() < deadline:
            said += capsys.readouterr().err
    assert "2.0 MB restored so far" in said


def test_helpers_running_when_the_hub_stops_the_service_are_removed(monkeypatch):
    with FakeEngine({"hub-image": "5.4.6"}) as fake:
        monkeypatch.setenv("DOCKER_HOST", fake.url)
        engine = docker_host.client()
        helper = engine.containers.create("hub-image", labels={"purpose": "restic helper"})
        helper.start()
        monkeypatch.setattr(backups, "RUNNING_HELPERS", {helper.id})
        assert backups.stop_running_helpers(engine) == [helper.id]
        assert fake.containers == {}
        assert fake.asked("DELETE", rf"/containers/{helper.id}")[0].query["force"] == ["True"]
        assert backups.stop_running_helpers(engine) == [], "one already gone is not counted"
