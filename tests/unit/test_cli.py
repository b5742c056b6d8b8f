"""The `appliance` command, run as a process the way the hub image runs it."""

import re
import subprocess
import sys


def appliance(*args, environ):
    command = [sys.executable, "-m", "appliance", *args]
    return subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **environ})


def test_check_prints_the_resolved_settings_with_secrets_redacted():
    result = appliance("check", environ={"ADMIN_PASSWORD": "s" * 40, "ADMIN_USERS": "prof,ta"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^ADMIN_USERS +prof,ta$", result.stdout, re.M)
    assert re.search(r"^ADMIN_PASSWORD +<redacted>$", result.stdout, re.M)
    assert "s" * 40 not in result.stdout


def test_check_fails_with_every_problem_and_no_traceback():
    result = appliance("check", environ={"SPAWNER_MODE": "k8s", "MEM_LIMIT": "huge"})
    assert result.returncode == 2
    assert "SPAWNER_MODE='k8s'" in result.stderr
    assert "MEM_LIMIT='huge'" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_bad_settings_writes_nothing(tmp_path):
    result = appliance("run", environ={"DATA_DIR": str(tmp_path), "CPU_LIMIT": "many"})
    assert result.returncode == 2
    assert "CPU_LIMIT" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_with_an_unusable_data_dir_says_so_without_a_traceback(tmp_path):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data dir should be")
    result = appliance("run", environ={"DATA_DIR": str(not_a_folder)})
    assert result.returncode == 2
    assert f"DATA_DIR={not_a_folder} is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert not_a_folder.read_text() == "a file where the data dir should be"


def test_a_failed_backup_leaves_no_partial_archive(tmp_path):
    result = appliance("backup", environ={"DATA_DIR": str(tmp_path), "ADMIN_PASSWORD": "a" * 40})
    assert result.returncode == 1
    assert "There is no database at" in result.stderr
    assert list((tmp_path / "backups").iterdir()) == []


def test_check_shows_the_layout_the_install_keeps_in_data_dir(tmp_path):
    (tmp_path / "container-names").write_text("legacy\n")
    (tmp_path / "user-volume-holds").write_text("work\n")
    result = appliance("check", environ={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^CONTAINER_NAMES +legacy$", result.stdout, re.M)
    assert re.search(r"^USER_VOLUME_HOLDS +work$", result.stdout, re.M)
    assert re.search(r"^USER_VOLUME +jupyterhub-user-\{username\}$", result.stdout, re.M)
    fresh = appliance("check", environ={"DATA_DIR": str(tmp_path / "new")})
    assert re.search(r"^CONTAINER_NAMES +\(unset\)$", fresh.stdout, re.M), "decided at the hub's first start"
    assert re.search(r"^USER_VOLUME_HOLDS +\(unset\)$", fresh.stdout, re.M)
    explicit = appliance("check", environ={"DATA_DIR": str(tmp_path), "USER_VOLUME_HOLDS": "home"})
    assert re.search(r"^USER_VOLUME_HOLDS +home$", explicit.stdout, re.M), "what the admin sets wins"
    assert re.search(r"^USER_VOLUME +\{instance\}-user-\{username\}$", fresh.stdout, re.M)


def test_user_data_asks_for_users_and_for_yes_before_removing_anything(tmp_path):
    environ = {"DATA_DIR": str(tmp_path)}
    unnamed = appliance("user-data", "archive", environ=environ)
    assert unnamed.returncode == 2 and "needs user names or --inactive-days" in unnamed.stderr
    unconfirmed = appliance("user-data", "remove", "alice", environ=environ)
    assert unconfirmed.returncode == 2 and "add --yes" in unconfirmed.stderr
    bad_days = appliance("user-data", "list", "--inactive-days", "0", environ=environ)
    assert bad_days.returncode == 2 and "'0' is not a whole number of days of at least 1" in bad_days.stderr
    system = appliance("user-data", "list", environ={**environ, "SPAWNER_MODE": "system"})
    assert system.returncode != 0 and "works in docker mode" in (system.stderr + system.stdout)
