"""Per-user quotas: the settings' rules, the storage helper's reading of btrfs's answers, and the usage table."""

import asyncio
import json
import subprocess

import pytest

from appliance.broker.instance import instance_from
from appliance.commands.storage import usage_table
from appliance.helpers import copy_home, user_storage
from appliance.settings import SettingsError, load
from appliance.spawners import ApplianceSwarmSpawner
from appliance.spawners.user_storage import UserStorage
from appliance.storage.quotas import QuotaHomes, Usage, bind_options, binds_into, quota_homes
from tests.unit.test_profiles import spawner

SECRETS = {
    "JPY_COOKIE_SECRET": "ab" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "p" * 64,
    "JUPYTERHUB_CRYPT_KEY": "cd" * 32,
    "ADMIN_PASSWORD": "x" * 32,
}


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ({"USER_DISK_QUOTA": "5G"}, "USER_DISK_QUOTA=set: means nothing without USER_STORAGE_DIR"),
        ({"USER_STORAGE_DIR": "homes"}, "must be an absolute path on the Docker host"),
        ({"USER_STORAGE_DIR": "/srv/homes", "USER_DISK_QUOTA": "lots"}, "a size such as 512M or 2G"),
        ({"USER_STORAGE_DIR": "/srv/homes", "VOLUME_DRIVER": "nfs"}, "cannot be used with VOLUME_DRIVER"),
        ({"USER_STORAGE_DIR": "/srv/homes", "SPAWNER_MODE": "swarm"}, "only applies when SPAWNER_MODE=docker"),
    ],
)
def test_bad_storage_settings_are_refused_saying_why(chosen, message):
    with pytest.raises(SettingsError, match=message):
        load({**SECRETS, **chosen})


def test_a_quota_defaults_to_ten_gigabytes():
    assert load({**SECRETS, "USER_STORAGE_DIR": "/srv/homes/"})["USER_DISK_QUOTA"] == "10G"


def test_a_volume_binds_its_folder_and_older_volumes_are_told_apart():
    options = bind_options("/srv/homes/", "course-alice")
    assert options == {"type": "none", "o": "bind", "device": "/srv/homes/course-alice"}
    assert binds_into({"Name": "course-alice", "Options": options}, "/srv/homes")
    assert not binds_into({"Name": "course-alice", "Options": None}, "/srv/homes")


QGROUPS = """\
Qgroupid    Referenced    Exclusive   Max referenced   Max exclusive   Path
--------    ----------    ---------   --------------   -------------   ----
0/5              16384        16384             none            none   <toplevel>
0/256         52445184     52445184         52428800            none   course-alice
0/257          1064960      1064960         52428800            none   course-bob
"""
SUBVOLUMES = "ID 256 gen 12 top level 5 path course-alice\nID 257 gen 13 top level 5 path srv/course-bob\n"


def fake_btrfs(answers: dict[str, str], calls: list):
    def btrfs(*args):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, answers.get(args[0], ""), "")

    return btrfs


def test_the_helper_reads_each_subvolumes_use_and_limit(monkeypatch):
    monkeypatch.setattr(user_storage, "btrfs", fake_btrfs({"qgroup": QGROUPS, "subvolume": SUBVOLUMES}, []))
    nobody = {"instance": None, "user": None}  # no owner recorded: this test's folders do not exist
    assert user_storage.usage() == {
        "course-alice": {"used": 52445184, "limit": 52428800, **nobody},
        "course-bob": {"used": 1064960, "limit": 52428800, **nobody},
    }


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", ""])
def test_the_helper_takes_only_volume_names(name, monkeypatch):
    calls: list = []
    monkeypatch.setattr(user_storage, "btrfs", fake_btrfs({}, calls))
    with pytest.raises(user_storage.StorageHelperError, match="is not a volume name"):
        user_storage.ensure(name, 2**20, "course", "alice")
    assert calls == []


def test_the_usage_table_lists_the_fullest_first_with_totals():
    table = usage_table([Usage("alice", "course-alice", 52445184, 52428800), Usage("bob", "course-bob", 1064960,
                                                                                     52428800)])  # fmt: skip
    lines = table.splitlines()
    assert lines[0].split() == ["USER", "VOLUME", "USED", "QUOTA", "USE%"]
    assert lines[1].split() == ["alice", "course-alice", "50.0M", "50.0M", "100%"]
    assert lines[-1].split() == ["total", "(2", "homes)", "51.0M", "100.0M"]


# -- moving older homes in ---------------------------------------------------------------------------------------


@pytest.fixture
def home_to_copy(tmp_path, monkeypatch):
    source, target = tmp_path / "from", tmp_path / "to"
    (source / "work" / "data").mkdir(parents=True)
    (source / "work" / "data" / "table.csv").write_text("a,b\n1,2\n")
    (source / ".bashrc").write_text("export X=1\n")
    (source / "work" / "latest").symlink_to("data/table.csv")
    (source / ".bashrc").chmod(0o600)
    target.mkdir()
    monkeypatch.setattr(copy_home, "COPY_SOURCE", str(source))
    monkeypatch.setattr(copy_home, "COPY_TARGET", str(target))
    return source, target


def test_the_copy_helper_copies_then_finds_every_file_the_same(home_to_copy, capsys):
    source, target = home_to_copy
    assert copy_home.main() == 0
    assert json.loads(capsys.readouterr().out) == {"entries": 6, "bytes": 19}
    assert (target / ".bashrc").stat().st_mode & 0o777 == 0o600
    assert copy_home.manifest(str(source)) == copy_home.manifest(str(target))


def test_the_copy_helper_refuses_a_target_that_is_not_empty(home_to_copy, capsys):
    _, target = home_to_copy
    (target / "left-over").write_text("x")
    assert copy_home.main() == copy_home.NOT_EMPTY
    assert "not empty" in capsys.readouterr().err


def test_the_copy_helper_fails_when_the_copy_differs(home_to_copy, capsys, monkeypatch):
    _, target = home_to_copy
    real_run = subprocess.run

    def copy_then_corrupt(*args, **kwargs):
        done = real_run(*args, **kwargs)
        (target / "work" / "data" / "table.csv").write_text("a,b\n1,3\n")
        return done

    monkeypatch.setattr(copy_home.subprocess, "run", copy_then_corrupt)
    assert copy_home.main() == 1
    assert "differs from its source in 1 entries: ['work/data/table.csv']" in capsys.readouterr().err


SWARM = {**SECRETS, "SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"}


def test_swarm_homes_have_quotas_only_when_user_disk_quota_is_set():
    plain = load({**SWARM, "SWARM_HOMES": "/srv/homes"})
    assert plain["USER_DISK_QUOTA"] is None and quota_homes(plain) is None
    limited = load({**SWARM, "SWARM_HOMES": "/srv/homes", "USER_DISK_QUOTA": "5G"})
    assert quota_homes(limited) == QuotaHomes("SWARM_HOMES", "/srv/homes")
    assert str(quota_homes(limited)) == "SWARM_HOMES=/srv/homes"
    docker = load({**SECRETS, "USER_STORAGE_DIR": "/srv/quota-homes"})
    assert quota_homes(docker) == QuotaHomes("USER_STORAGE_DIR", "/srv/quota-homes")
    assert quota_homes(load(SECRETS)) is None


def test_a_swarm_quota_without_swarm_homes_is_refused_naming_both():
    with pytest.raises(SettingsError, match="USER_DISK_QUOTA=set: needs SWARM_HOMES in swarm mode"):
        load({**SWARM, "USER_DISK_QUOTA": "5G"})


def test_the_broker_lets_the_storage_helper_bind_swarm_homes_only_when_they_have_quotas():
    limited = load({**SWARM, "SWARM_HOMES": "/srv/homes", "USER_DISK_QUOTA": "5G"})
    assert instance_from(limited, "sha256:own").user_storage_dir == "/srv/homes"
    assert instance_from(load({**SWARM, "SWARM_HOMES": "/srv/homes"}), "sha256:own").user_storage_dir == ""


def test_a_swarm_spawner_limits_homes_in_swarm_homes_and_leaves_an_older_plain_folder_without_a_quota(tmp_path, caplog):
    homes = tmp_path / "homes"
    homes.mkdir()
    server = spawner(
        tmp_path, spawner_class=ApplianceSwarmSpawner, text="profiles:\n  - name: standard\n",
        **{**SWARM, "SWARM_HOMES": str(homes), "USER_DISK_QUOTA": "50M"},
    )  # fmt: skip
    assert (server.user_storage_dir, server.disk_quota) == (str(homes), 50 * 2**20)
    server.apply_profile()
    older = homes / "jupyterhub-appliance-user-alice"
    older.mkdir()  # made before USER_DISK_QUOTA: a plain folder, which no helper could limit
    asyncio.run(server.ensure_home_folders())
    assert "jupyterhub-appliance-user-alice was made before SWARM_HOMES had quotas" in caplog.text
    assert "jupyterhub-appliance-user-alice" not in UserStorage.quotas_set and not server.home_qgroup
