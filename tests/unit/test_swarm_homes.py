"""SWARM_HOMES: each user volume is a folder of one shared mount, the same on every node."""

import asyncio

import pytest
from docker.types import DriverConfig

from appliance.spawners import ApplianceSwarmSpawner
from appliance.spawners.errors import SpawnError
from tests.unit.test_profiles import spawner

SHARED_PROFILE = """\
profiles:
  - name: course
    volumes:
      - {name: course-material, mount_path: /home/jovyan/course, read_only: true}
"""


def swarm_spawner(tmp_path, homes):
    return spawner(
        tmp_path,
        spawner_class=ApplianceSwarmSpawner,
        text=SHARED_PROFILE,
        SPAWNER_MODE="swarm",
        USER_NETWORK_ISOLATION="off",
        SWARM_HOMES=str(homes),
    )


def test_a_user_volume_binds_its_folder_of_the_shared_mount_and_a_shared_volume_stays_as_it_was(tmp_path):
    server = swarm_spawner(tmp_path, "/srv/homes")
    server.user_options = {"profile": "course"}
    server.apply_profile()
    mounts = {mount["Source"]: mount for mount in server.mounts}
    user_volume = mounts["jupyterhub-appliance-user-alice"]
    assert user_volume["Type"] == "volume" and user_volume["Target"] == "/home/jovyan"
    assert user_volume["VolumeOptions"]["DriverConfig"] == DriverConfig(
        "local", {"type": "none", "o": "bind", "device": "/srv/homes/jupyterhub-appliance-user-alice"}
    )
    assert "DriverConfig" not in mounts["course-material"]["VolumeOptions"]


def test_the_hub_creates_a_missing_folder_and_leaves_an_existing_one_as_it_is(tmp_path):
    homes = tmp_path / "homes"
    homes.mkdir()
    server = swarm_spawner(tmp_path, homes)
    server.apply_profile()
    asyncio.run(server.ensure_home_folders())
    folder = homes / "jupyterhub-appliance-user-alice"
    assert folder.is_dir() and not any(folder.iterdir()), "empty: the engine fills it from the image"
    (folder / "notes.txt").write_text("mine")
    asyncio.run(server.ensure_home_folders())
    assert (folder / "notes.txt").read_text() == "mine"
    assert [path.name for path in homes.iterdir()] == ["jupyterhub-appliance-user-alice"], "only the user's own folder"


def test_a_shared_mount_missing_in_the_hub_stops_the_spawn_and_says_how_to_deploy(tmp_path):
    server = swarm_spawner(tmp_path, tmp_path / "not-mounted")
    server.apply_profile()
    with pytest.raises(SpawnError) as raised:
        asyncio.run(server.ensure_home_folders())
    assert f"SWARM_HOMES={tmp_path / 'not-mounted'} is not a folder in the hub" in str(raised.value)
    assert "compose/swarm-homes.yml" in str(raised.value)
