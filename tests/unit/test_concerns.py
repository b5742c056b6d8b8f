"""One list of concerns: `appliance run` prepares them in order and `appliance doctor` checks them in the same
order, over the same probes (DATA_DIR's permissions, the database's schema revision)."""

import sqlite3
from pathlib import Path

import pytest

from appliance import concerns
from appliance.commands import run
from appliance.concerns import CONCERNS, Concern, storage
from appliance.database import jupyterhub_revisions
from appliance.settings import load

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}


def test_nothing_is_written_before_the_login_provider_answers_and_the_secrets_come_before_the_database():
    """The install's layout is decided before the secrets are written: stored secrets mean an older install."""
    prepared = [concern.name for concern in CONCERNS if concern.prepare is not None]
    assert prepared[:5] == ["auth", "data dir", "install layout", "secrets", "database"]
    assert prepared[-1] == "plain HTTP", "the TLS front's config, once everything else holds"


def test_every_concern_the_doctor_names_after_another_comes_after_it():
    order = [concern.name for concern in CONCERNS]
    for concern in CONCERNS:
        assert all(order.index(needed) < order.index(concern.name) for needed in concern.needs), concern.name


def test_run_prepares_each_concern_in_order_and_gathers_what_they_give_the_hub(monkeypatch):
    steps = []

    def step(name, gives=None):
        return lambda settings, say: steps.append(name) or gives

    made = (
        Concern("first", prepare=step("first", {"A": "1"})),
        Concern("checked only", diagnose=lambda _: None),
        Concern("second", prepare=step("second", {"B": "2", "A": "3"})),
    )
    monkeypatch.setattr(run, "CONCERNS", made)
    assert run.prepare(load({})) == {"A": "3", "B": "2"}
    assert steps == ["first", "second"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_the_doctor_names_the_loose_modes_that_the_start_makes_private(data_dir, capsys):
    settings = load({**SECRETS, "DATA_DIR": str(data_dir)})
    storage.prepare_data_dir(settings, print)
    generated = storage.prepare_secrets(settings, print)
    assert set(generated) == {"JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY", "ADMIN_PASSWORD"}
    assert f"  password:  {generated['ADMIN_PASSWORD']}" in capsys.readouterr().out, "logged on the start that made it"
    assert storage.check_data_dir(settings).label == "PASS"
    (data_dir / "secrets").chmod(0o755)
    (data_dir / "secrets" / "admin_password").chmod(0o644)
    loose = storage.check_data_dir(settings)
    assert loose.label == "FAIL"
    assert f"{data_dir}/secrets is 755" in loose.detail and "admin_password is 644" in loose.detail
    again = storage.prepare_secrets(settings, print)
    assert again["ADMIN_PASSWORD"] == generated["ADMIN_PASSWORD"]
    assert "password:  " not in capsys.readouterr().out, "stored, not logged again"
    assert storage.check_data_dir(settings).label == "PASS"


def stamped(path: Path, revision: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))


def test_the_doctor_reads_the_schema_revision_the_start_upgrades_from(data_dir):
    data_dir.mkdir()
    settings = load({**SECRETS, "DATA_DIR": str(data_dir)})
    missing = storage.check_database(settings)
    assert (missing.label, missing.detail) == ("FAIL", f"no database at {data_dir}/jupyterhub.sqlite")
    head, _ = jupyterhub_revisions()
    stamped(data_dir / "jupyterhub.sqlite", "4621fec11365")
    old = storage.check_database(settings)
    assert old.label == "FAIL" and old.detail.startswith("schema 4621fec11365 is not JupyterHub")
    (data_dir / "jupyterhub.sqlite").unlink()
    stamped(data_dir / "jupyterhub.sqlite", head)
    assert storage.check_database(settings).detail == f"reachable, schema current ({head})"
    (data_dir / "jupyterhub.sqlite").write_text("not a database")
    broken = storage.check_database(settings)
    assert broken.label == "FAIL" and "cannot be read as a database" in broken.detail


def test_the_spawner_modes_own_check_comes_last_and_needs_the_engine():
    last = concerns.concerns_for(load({"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"}))[-1]
    assert (last.name, last.needs) == ("swarm mode", ("docker socket",))


def layout_prepared(data_dir: Path, said: list[str], **environ: str) -> dict[str, str]:
    settings = load({**SECRETS, "DATA_DIR": str(data_dir), **environ})
    storage.prepare_data_dir(settings, said.append)
    return storage.prepare_install_layout(settings, said.append)


def test_a_new_install_names_with_its_instance_its_volumes_hold_homes_and_it_keeps_that(data_dir):
    said: list[str] = []
    assert layout_prepared(data_dir, said) == {"CONTAINER_NAMES": "instance", "USER_VOLUME_HOLDS": "home"}
    assert said == []
    for file, value in (("container-names", "instance"), ("user-volume-holds", "home")):
        stored = data_dir / file
        assert stored.read_text() == f"{value}\n" and stored.stat().st_mode & 0o777 == 0o600
    storage.prepare_secrets(load({**SECRETS, "DATA_DIR": str(data_dir)}), said.append)
    assert layout_prepared(data_dir, said)["CONTAINER_NAMES"] == "instance", "its own secrets do not make it older"
    assert storage.stored_choices(str(data_dir)) == {"CONTAINER_NAMES": "instance", "USER_VOLUME_HOLDS": "home"}


def test_an_install_that_an_older_release_made_keeps_its_names_and_volumes_and_says_so_once(data_dir):
    said: list[str] = []
    storage.prepare_data_dir(load({**SECRETS, "DATA_DIR": str(data_dir)}), said.append)
    storage.prepare_secrets(load({**SECRETS, "DATA_DIR": str(data_dir)}), said.append)  # as a release before 0.3 did
    said.clear()
    assert layout_prepared(data_dir, said) == {"CONTAINER_NAMES": "legacy", "USER_VOLUME_HOLDS": "work"}
    [names, volumes] = said
    assert "release before 0.3" in names and "jupyterhub-user-USER" in names
    assert "holds their ~/work and stays mounted there, untouched" in volumes and ".home" in volumes
    said.clear()
    assert layout_prepared(data_dir, said) == {"CONTAINER_NAMES": "legacy", "USER_VOLUME_HOLDS": "work"}
    assert said == []


def test_an_admin_who_changes_the_layout_is_told_what_users_will_find(data_dir):
    said: list[str] = []
    layout_prepared(data_dir, said)
    changed = layout_prepared(data_dir, said, CONTAINER_NAMES="legacy", USER_VOLUME_HOLDS="work")
    assert changed == {"CONTAINER_NAMES": "legacy", "USER_VOLUME_HOLDS": "work"}
    [names, volumes] = said
    assert "changes from instance to legacy" in names and "old volumes stay" in names
    assert "changes from home to work" in volumes and "no file is moved or removed" in volumes
    assert (data_dir / "container-names").read_text() == "legacy\n"
    assert layout_prepared(data_dir, said)["CONTAINER_NAMES"] == "legacy", "the admin's choice is kept once made"
