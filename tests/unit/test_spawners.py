"""The spawners against a fake engine (tests/unit/fake_engine.py), configured by hub_config.apply as the hub is:
what they ask Docker to create, with which labels and hardening, and what they refuse to touch."""

import asyncio
import socket

import jupyterhub
import pytest
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from appliance import docker_host
from appliance.hub_config import apply
from appliance.settings import load
from appliance.spawners import ApplianceDockerSpawner, SpawnError
from appliance.spawners.image_gate import moved_home
from tests.unit.fake_engine import FakeEngine

IMAGE = "registry.example.org/lab:1"
SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}
# A new install's names (CONTAINER_NAMES=instance) for alice on the appliance "course".
CONTAINER, VOLUME = "jupyter-course-alice", "course-user-alice"
BASE = {**SECRETS, "SINGLEUSER_IMAGE": IMAGE, "USER_NETWORK_ISOLATION": "off", "APPLIANCE_INSTANCE": "course"}


@pytest.fixture
def engine(monkeypatch):
    with FakeEngine({IMAGE: jupyterhub.__version__}) as fake:
        monkeypatch.setenv("DOCKER_HOST", fake.url)
        monkeypatch.setattr(ApplianceDockerSpawner, "_shared_engine", None)
        monkeypatch.setattr(docker_host, "OWN_IMAGE", [])  # each test's engine has its own hub container
        # Each image's answer is kept for the hub's life (per image id); each test is a new hub.
        monkeypatch.setattr(ApplianceDockerSpawner, "_jupyterhub_versions", {})
        yield fake


@pytest.fixture
def server_port():
    """A listening socket on loopback, where the fake engine's containers are: the server answers at once."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def spawner_for(environ: dict[str, str], port: int, name: str = "alice", **hub_settings) -> ApplianceDockerSpawner:
    """The spawner JupyterHub would make for `name`, from the config apply() makes of these settings (and the
    hub's tornado settings that JupyterHub passes on, such as cookie_options)."""
    config = Config()
    apply(load({**BASE, **environ}), config)
    db = orm.new_session_factory("sqlite://")()
    orm_user = orm.User(name=name)
    db.add(orm_user)
    db.add(orm.Spawner(user=orm_user, name=""))
    db.commit()
    user = User(orm_user, settings={"config": config, "hub": Hub(), **hub_settings})
    spawner = user._new_spawner("", spawner_class=import_item(config.JupyterHub.spawner_class))
    spawner.port, spawner.api_token = port, "server-token"
    return spawner


def started(spawner: ApplianceDockerSpawner):
    return asyncio.run(spawner.start())


def test_a_server_is_a_hardened_labelled_container_with_its_own_volume(engine, server_port):
    ip, port = started(spawner_for({}, server_port))
    assert (ip, port) == ("127.0.0.1", server_port)
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    labels = create.body["Labels"]
    assert {key: labels[key] for key in labels if key.startswith("jupyterhub-appliance.")} == {
        "jupyterhub-appliance.instance": "course",
        "jupyterhub-appliance.user": "alice",
        "jupyterhub-appliance.server": "",
    }
    host = create.body["HostConfig"]
    assert (host["CapDrop"], host["SecurityOpt"], host["PidsLimit"]) == (["ALL"], ["no-new-privileges"], 512)
    assert not host.get("Privileged") and not host.get("CapAdd") and not host.get("Devices")
    assert host["Binds"] == ["course-user-alice:/home/jovyan:rw"]
    assert engine.volumes[VOLUME]["Labels"] == {
        "jupyterhub-appliance.instance": "course",
        "jupyterhub-appliance.user": "alice",
    }
    assert create.body["Image"] == IMAGE and host["NetworkMode"] == "jupyterhub-appliance"


def test_the_image_is_asked_its_jupyterhub_version_unprivileged_and_without_network(engine, server_port):
    started(spawner_for({}, server_port))
    [probe] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") != [CONTAINER]]
    assert probe.body["NetworkDisabled"] is True and probe.body["User"] == "65534:65534"
    assert probe.body["HostConfig"]["CapDrop"] == ["ALL"] and probe.body["HostConfig"]["ReadonlyRootfs"] is True
    assert probe.body["Labels"]["jupyterhub-appliance.helper-for"] == "alice"
    assert not engine.container(probe.body.get("name", "")) and len(engine.containers) == 1, "the probe is gone"
    assert not engine.asked("POST", r"/images/create"), "the image is here: nothing is pulled"


def test_stopping_removes_the_container_and_keeps_the_volume(engine, server_port):
    spawner = spawner_for({}, server_port)
    started(spawner)
    asyncio.run(spawner.stop())
    assert not [one for one in engine.containers.values() if one.name == CONTAINER]
    assert VOLUME in engine.volumes
    assert not engine.asked("DELETE", r"/volumes/.*")


def test_another_instances_volume_of_that_name_is_refused_and_left_alone(engine, server_port):
    engine.volumes[VOLUME] = {
        "Name": VOLUME,
        "Driver": "local",
        "Labels": {"jupyterhub-appliance.instance": "lab", "jupyterhub-appliance.user": "alice"},
    }
    with pytest.raises(SpawnError) as refused:
        started(spawner_for({}, server_port))
    assert "lab" in str(refused.value) and "course" in str(refused.value)
    assert not [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]


def deleted(spawner: ApplianceDockerSpawner) -> None:
    asyncio.run(spawner.stop())
    asyncio.run(spawner.delete_forever())


def test_a_deleted_users_volume_is_kept_unless_the_admin_chose_otherwise(engine, server_port):
    spawner = spawner_for({}, server_port)
    started(spawner)
    deleted(spawner)
    assert VOLUME in engine.volumes and not engine.asked("DELETE", r"/volumes/.*")


def test_with_deleted_user_data_remove_only_the_users_own_volume_goes(engine, server_port):
    spawner = spawner_for({"DELETED_USER_DATA": "remove", "USER_VOLUME_HOLDS": "work"}, server_port)
    started(spawner)
    engine.volumes[VOLUME]["Labels"] = {"jupyterhub-appliance.instance": "course", "jupyterhub-appliance.user": "bob"}
    deleted(spawner)
    assert f"{VOLUME}.home" not in engine.volumes, "alice's home volume is removed"
    assert VOLUME in engine.volumes, "a volume labelled for another user is left as it is"
    assert [one.path for one in engine.asked("DELETE", r"/volumes/.*")] == [f"/volumes/{VOLUME}.home"]


def test_a_container_of_that_name_that_is_not_ours_is_neither_stopped_nor_removed(engine, server_port):
    spawner = spawner_for({}, server_port)
    started(spawner)
    [ours] = [one for one in engine.containers.values() if one.name == CONTAINER]
    ours.config["Labels"] = {"jupyterhub-appliance.instance": "lab", "jupyterhub-appliance.user": "mallory"}
    asyncio.run(spawner.stop())
    assert ours.id in engine.containers and ours.running, "refused (and logged), not stopped"
    assert not engine.asked("POST", rf"/containers/{ours.id}/stop") and not engine.asked(
        "DELETE", rf"/containers/{ours.id}"
    )


def test_a_read_only_root_keeps_the_home_volume_and_puts_tmp_in_memory(engine, server_port):
    started(spawner_for({"READ_ONLY_ROOTFS": "true"}, server_port))
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    host = create.body["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp"} and host["Binds"] == ["course-user-alice:/home/jovyan:rw"]


def test_the_home_volume_goes_where_the_image_keeps_its_users_home(engine, server_port):
    engine.image_configs[IMAGE] = {
        "Env": ["PATH=/usr/bin", "HOME=/home/rstudio"],
        "WorkingDir": "/home/rstudio/project",
    }
    spawner = spawner_for({"USER_VOLUME_HOLDS": "work"}, server_port)
    started(spawner)
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    assert sorted(create.body["HostConfig"]["Binds"]) == [
        "course-user-alice.home:/home/rstudio:rw",
        "course-user-alice:/home/rstudio/work:rw",
    ]
    assert spawner.notebook_dir == "/home/rstudio/project", "JupyterLab opens in the image's working folder"


def test_an_image_that_declares_no_home_gets_home_jovyan_and_opens_there(engine, server_port):
    engine.image_configs[IMAGE] = {"WorkingDir": "/srv"}
    spawner = spawner_for({}, server_port)
    started(spawner)
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    assert create.body["HostConfig"]["Binds"] == ["course-user-alice:/home/jovyan:rw"]
    assert spawner.notebook_dir == "/home/jovyan", "a working folder outside the home is not where Lab opens"


def test_an_older_installs_volume_stays_at_work_and_the_home_is_a_second_labelled_volume(engine, server_port):
    engine.volumes[VOLUME] = {"Name": VOLUME, "Driver": "local", "Labels": {}}  # as a release before 0.3 left it
    started(spawner_for({"USER_VOLUME_HOLDS": "work"}, server_port))
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    assert sorted(create.body["HostConfig"]["Binds"]) == [
        "course-user-alice.home:/home/jovyan:rw",
        "course-user-alice:/home/jovyan/work:rw",
    ]
    assert engine.volumes[VOLUME]["Labels"] == {}, "the older volume is used as it is"
    assert engine.volumes[f"{VOLUME}.home"]["Labels"] == {
        "jupyterhub-appliance.instance": "course",
        "jupyterhub-appliance.user": "alice",
    }


def test_in_system_mode_the_server_runs_as_the_host_account_in_its_home(engine, server_port, tmp_path):
    (tmp_path / "passwd").write_text("alice:x:2001:2001::/home/alice:/bin/bash\n")
    (tmp_path / "group").write_text("alice:x:2001:\nlab:x:2100:alice\n")
    (tmp_path / "alice").mkdir()
    environ = {"SPAWNER_MODE": "system", "AUTH_MODE": "native", "HOME_FORMAT": f"{tmp_path}/{{username}}"}
    spawner = spawner_for(environ, server_port)
    spawner.passwd_file, spawner.group_file = str(tmp_path / "passwd"), str(tmp_path / "group")
    started(spawner)
    [create] = [one for one in engine.asked("POST", "/containers/create") if one.query.get("name") == [CONTAINER]]
    host = create.body["HostConfig"]
    assert create.body["User"] == "2001:2001", "never root, not even to step down"
    assert host["Mounts"] == [
        {"Target": "/home/alice", "Source": f"{tmp_path}/alice", "Type": "bind", "ReadOnly": False}
    ]
    assert host["Binds"] == ["/etc/passwd:/etc/passwd:ro", "/etc/group:/etc/group:ro"], "the host's accounts, read-only"
    assert host["GroupAdd"] == ["2100"] and host["CapDrop"] == ["ALL"]
    assert not engine.volumes, "the home is the host's: no volume"


def test_profiles_volumes_in_the_home_move_with_it_and_others_stay():
    volumes = {
        "course-user-alice": "/home/jovyan",
        "course-material": {"bind": "/home/jovyan/course", "mode": "ro"},
        "datasets": {"bind": "/data", "mode": "ro"},
        "jovyan-notes": "/home/jovyanish",
    }
    assert moved_home(volumes, "/home/rstudio") == {
        "course-user-alice": "/home/rstudio",
        "course-material": {"bind": "/home/rstudio/course", "mode": "ro"},
        "datasets": {"bind": "/data", "mode": "ro"},
        "jovyan-notes": "/home/jovyanish",
    }
