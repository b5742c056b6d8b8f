"""Schema upgrades that back up first and never half-write, and backups that restore byte for byte.

The databases are real: JupyterHub's own ORM creates them and its alembic migrations move them.
"""

import hashlib
import io
import json
import sqlite3
import tarfile
from contextlib import closing
from datetime import UTC, datetime

import pytest
from jupyterhub import orm

from appliance import __version__
from appliance.backup import BackupError, create_backup, restore_backup
from appliance.database import (
    DatabaseError,
    jupyterhub_revisions,
    migrate,
    schema_revision,
    upgrade_sqlite_if_needed,
    users_last_activity,
)
from appliance.secret_store import resolve
from appliance.settings import load

OLDER_REVISION = "4621fec11365"  # the head of JupyterHub 5.4


def new_database(path, users=("alice",)):
    db = orm.new_session_factory(f"sqlite:///{path}")()
    for name in users:
        db.add(orm.User(name=name))
    db.commit()
    db.close()


def stamp(path, revision):
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        db.commit()


def downgrade(path, revision):
    from alembic import command
    from alembic.config import Config
    from jupyterhub import dbutil

    ini = path.parent / "alembic.ini"
    dbutil.write_alembic_ini(str(ini), f"sqlite:///{path}")
    command.downgrade(Config(str(ini)), revision)


def user_names(path):
    with closing(sqlite3.connect(path)) as db:
        return sorted(row[0] for row in db.execute("SELECT name FROM users"))


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def contents(path):
    """Every row and schema statement; an online copy has the same contents but not the same bytes."""
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())


def test_an_older_schema_is_backed_up_then_upgraded(tmp_path):
    database = tmp_path / "jupyterhub.sqlite"
    new_database(database, users=("alice", "bob"))
    downgrade(database, OLDER_REVISION)
    before = contents(database)
    messages = []

    backup = upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", messages.append)

    head, _ = jupyterhub_revisions()
    assert schema_revision(database) == head
    assert user_names(database) == ["alice", "bob"]
    assert backup.parent == tmp_path / "backups" and OLDER_REVISION in backup.name
    assert contents(backup) == before and schema_revision(backup) == OLDER_REVISION
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert any("Backing up" in message for message in messages)
    assert upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", messages.append) is None


def test_a_new_appliance_version_backs_up_the_database_once(tmp_path):
    database = tmp_path / "jupyterhub.sqlite"
    new_database(database, users=("alice",))
    (tmp_path / "appliance-version").write_text("0.1.9\n")
    before = contents(database)
    messages = []

    backup = upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", messages.append)

    assert backup.name.endswith(f"-before-{__version__}.sqlite")
    assert contents(backup) == before and contents(database) == before
    assert f"Appliance 0.1.9 ran last on this data; this is {__version__}." in messages
    assert (tmp_path / "appliance-version").read_text() == f"{__version__}\n"
    assert upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", messages.append) is None
    assert len(list((tmp_path / "backups").iterdir())) == 1


def test_a_new_data_dir_records_the_version_without_a_backup(tmp_path):
    assert upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{tmp_path}/jupyterhub.sqlite", lambda _: None) is None
    assert (tmp_path / "appliance-version").read_text() == f"{__version__}\n"
    assert not (tmp_path / "backups").exists()


def test_a_failed_upgrade_leaves_the_original_untouched(tmp_path):
    database = tmp_path / "jupyterhub.sqlite"
    new_database(database)
    stamp(database, OLDER_REVISION)  # claims an old schema while having the new columns: the migration fails
    before = digest(database)

    with pytest.raises(DatabaseError) as failure:
        upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", lambda _: None)

    assert digest(database) == before
    assert f"{database} is unchanged" in str(failure.value)
    assert "previous appliance version" in str(failure.value)
    assert not (tmp_path / "jupyterhub.sqlite.upgrading").exists()
    [backup] = (tmp_path / "backups").iterdir()
    assert contents(backup) == contents(database)


def test_a_schema_from_a_newer_jupyterhub_is_refused(tmp_path):
    database = tmp_path / "jupyterhub.sqlite"
    new_database(database)
    stamp(database, "0123456789ab")
    with pytest.raises(DatabaseError, match="a newer version of the appliance wrote it"):
        upgrade_sqlite_if_needed(str(tmp_path), f"sqlite:///{database}", lambda _: None)


def test_upgrading_in_place_through_alembic_keeps_rows(tmp_path):
    database = tmp_path / "jupyterhub.sqlite"
    new_database(database, users=("carol",))
    downgrade(database, OLDER_REVISION)
    migrate(database)
    assert user_names(database) == ["carol"]


def settings_for(data_dir):
    return load({"DATA_DIR": str(data_dir)})


def make_hub_data(data_dir, users):
    data_dir.mkdir()
    settings = settings_for(data_dir)
    resolve(settings)
    new_database(data_dir / "jupyterhub.sqlite", users=users)
    return settings


def test_backup_then_restore_brings_back_database_and_secrets(tmp_path):
    original = make_hub_data(tmp_path / "original", users=("alice",))
    archive = io.BytesIO()
    members = create_backup(original, archive, report=lambda _: None)
    assert set(members) >= {"manifest.json", "jupyterhub.sqlite", "secrets/cookie_secret", "secrets/crypt_key"}

    replacement = make_hub_data(tmp_path / "replacement", users=("mallory",))
    archive.seek(0)
    moved = restore_backup(replacement, archive, hubs_running=[], report=lambda _: None)

    restored = tmp_path / "replacement"
    assert user_names(restored / "jupyterhub.sqlite") == ["alice"]
    for name in ("cookie_secret", "crypt_key", "proxy_auth_token", "admin_password"):
        assert (restored / "secrets" / name).read_text() == (tmp_path / "original" / "secrets" / name).read_text()
        assert oct((restored / "secrets" / name).stat().st_mode & 0o777) == "0o600"
    assert user_names(moved / "jupyterhub.sqlite") == ["mallory"], "what the restore replaced is kept"


def test_restore_refuses_while_the_hub_runs_and_changes_nothing(tmp_path):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = io.BytesIO()
    create_backup(settings, archive, report=lambda _: None)
    before = digest(tmp_path / "data" / "jupyterhub.sqlite")
    archive.seek(0)
    with pytest.raises(BackupError, match="docker compose stop hub"):
        restore_backup(settings, archive, hubs_running=["lab-hub-1"], report=lambda _: None)
    assert digest(tmp_path / "data" / "jupyterhub.sqlite") == before


def test_restore_refuses_an_archive_with_foreign_members(tmp_path):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        evil = tarfile.TarInfo("../../etc/cron.d/evil")
        evil.size = 0
        tar.addfile(evil, io.BytesIO(b""))
    archive.seek(0)
    with pytest.raises(BackupError, match="does not belong in an appliance backup"):
        restore_backup(settings, archive, hubs_running=[], report=lambda _: None)
    assert user_names(tmp_path / "data" / "jupyterhub.sqlite") == ["alice"]
    assert not (tmp_path / "data" / "backups").exists() or not list((tmp_path / "data" / "backups").iterdir())


def archive_of(members: dict[str, bytes]) -> io.BytesIO:
    """A gzipped tar with the given members."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    return archive


def good_manifest(**changes) -> bytes:
    manifest = {
        "format": "jupyterhub-appliance-backup/1",
        "appliance_version": "0.2.0",
        "jupyterhub_version": "6.1.1",
        "schema_revision": "x",
        "created": "20261201T000000Z",
        "secrets_from_environment": [],
    }
    return json.dumps({**manifest, **changes}).encode()


def test_restore_refuses_a_member_over_its_size_limit_before_writing_it(tmp_path):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = archive_of({"manifest.json": good_manifest(), "jupyterhub.sqlite": b"\0" * 4096})
    with pytest.raises(BackupError) as refused:
        restore_backup(settings, archive, hubs_running=[], report=lambda _: None, max_database_bytes=1024)
    message = str(refused.value)
    assert "jupyterhub.sqlite in the archive is 4096 bytes, more than the 1024 bytes a restore accepts" in message
    assert "appliance restore --max-size 20G" in message
    assert user_names(tmp_path / "data" / "jupyterhub.sqlite") == ["alice"]
    assert not [path for path in (tmp_path / "data").glob(".restore-*")], "nothing staged is left behind"


def test_restore_refuses_an_oversized_secret_and_names_no_flag_for_it(tmp_path):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = archive_of({"manifest.json": good_manifest(), "secrets/cookie_secret": b"a" * 70_000})
    with pytest.raises(BackupError, match="secrets/cookie_secret in the archive is 70000 bytes"):
        restore_backup(settings, archive, hubs_running=[], report=lambda _: None)


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        (b"[]", "is not a JSON object"),
        (json.dumps({"format": "jupyterhub-appliance-backup/1"}).encode(), "lacks or has malformed appliance_version"),
        (good_manifest(created=5), "lacks or has malformed created"),
        (good_manifest(secrets_from_environment=["PATH"]), "lacks or has malformed secrets_from_environment"),
        (good_manifest(database=["postgresql"]), "lacks or has malformed database"),
        (good_manifest(database="mysql"), "lacks or has malformed database"),
    ],
)
def test_a_manifest_with_missing_or_odd_keys_is_a_clear_error(tmp_path, manifest, named):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = archive_of({"manifest.json": manifest, "jupyterhub.sqlite": b""})
    with pytest.raises(BackupError, match=named):
        restore_backup(settings, archive, hubs_running=[], report=lambda _: None)
    assert user_names(tmp_path / "data" / "jupyterhub.sqlite") == ["alice"]


def test_manifest_text_is_printed_with_control_characters_escaped(tmp_path):
    original = make_hub_data(tmp_path / "original", users=("alice",))
    made = io.BytesIO()
    create_backup(original, made, report=lambda _: None)
    made.seek(0)
    members = {}
    with tarfile.open(fileobj=made, mode="r:gz") as tar:
        for member in tar.getmembers():
            members[member.name] = tar.extractfile(member).read()
    manifest = json.loads(members["manifest.json"])
    manifest["created"] = "today\x1b[2J\x1b]0;pwned\x07"
    members["manifest.json"] = json.dumps(manifest).encode()
    said = []
    restore_backup(make_hub_data(tmp_path / "other", users=("bob",)), archive_of(members), [], report=said.append)
    last = said[-1]
    assert "\x1b" not in last and "\x07" not in last
    assert "today\\x1b[2J\\x1b]0;pwned\\x07" in last


def test_a_sqlite_backup_is_not_restored_into_a_postgresql_setup(tmp_path):
    settings = make_hub_data(tmp_path / "data", users=("alice",))
    archive = io.BytesIO()
    create_backup(settings, archive, report=lambda _: None)
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue())) as tar:
        assert json.load(tar.extractfile("manifest.json"))["database"] == "sqlite"
    archive.seek(0)
    url = "postgresql://jupyterhub:pw@127.0.0.1:9/jupyterhub"
    postgres_settings = load({"DATA_DIR": settings["DATA_DIR"], "DATABASE_URL": url})
    with pytest.raises(BackupError, match="holds a sqlite database, but DATABASE_URL names postgresql") as refused:
        restore_backup(postgres_settings, archive, hubs_running=[], report=lambda _: None)
    assert "appliance migrate-db" in str(refused.value)
    assert user_names(tmp_path / "data" / "jupyterhub.sqlite") == ["alice"]


def test_the_hubs_users_come_with_their_last_activity_in_utc(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    db = orm.new_session_factory(f"sqlite:///{path}")()
    db.add_all([orm.User(name="alice", last_activity=datetime(2026, 9, 1, 8, 30)), orm.User(name="carol")])
    db.commit()
    db.close()
    assert users_last_activity(f"sqlite:///{path}") == {
        "alice": datetime(2026, 9, 1, 8, 30, tzinfo=UTC),
        "carol": None,
    }
