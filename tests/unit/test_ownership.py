"""Restored state is checked: the spawner acts only on containers that carry this instance's labels for
this user and server, whatever names and ids the saved state holds."""

import asyncio
from types import SimpleNamespace

import docker.errors
import pytest

from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER
from appliance.spawners.ownership import NotOurs, OwnershipCheck, volume_refusal

ALICES = {LABEL_INSTANCE: "lab", LABEL_USER: "alice", LABEL_SERVER: ""}


class FakeEngineSpawner:
    """dockerspawner's calls that the check wraps, against containers held in a dict by name and by id."""

    object_type = "container"

    def use(self, containers: dict[str, dict], object_name: str, object_id: str = ""):
        self.containers, self.object_name, self.object_id = containers, object_name, object_id
        self.user, self.name, self.appliance_instance = SimpleNamespace(name="alice"), "", "lab"
        self.acted: list[tuple[str, str]] = []
        return self

    async def docker(self, method: str, target: str, **_):
        if method.startswith("inspect_"):
            found = [c for name, c in self.containers.items() if target in (name, c["Id"])]
            if not found:
                raise docker.errors.NotFound(f"no container {target}")
            return found[0]
        self.acted.append((method, target))

    async def get_object(self):
        obj = await self.docker("inspect_container", self.object_name)
        self.object_id = obj["Id"]
        return obj

    async def stop_object(self):
        await self.docker("stop", self.object_id)

    async def remove_object(self):
        await self.docker("remove_container", self.object_id)


class Checked(OwnershipCheck, FakeEngineSpawner):
    pass


def container(container_id: str, labels: dict[str, str]) -> dict:
    return {"Id": container_id, "Config": {"Labels": labels}}


CONTAINERS = {
    "jupyter-alice": container("a1", ALICES),
    "postgres": container("p1", {"com.docker.compose.service": "postgres"}),
    "jupyter-bob": container("b1", {**ALICES, LABEL_USER: "bob"}),
    "other-instance-alice": container("o1", {**ALICES, LABEL_INSTANCE: "course"}),
    "alice-named-server": container("n1", {**ALICES, LABEL_SERVER: "gpu"}),
}


def test_the_users_own_container_is_stopped_and_removed():
    spawner = Checked().use(CONTAINERS, "jupyter-alice", "a1")
    asyncio.run(spawner.stop_object())
    asyncio.run(spawner.remove_object())
    assert spawner.acted == [("stop", "a1"), ("remove_container", "a1")]


@pytest.mark.parametrize("name", ["postgres", "jupyter-bob", "other-instance-alice", "alice-named-server"])
def test_a_saved_id_of_another_container_is_neither_stopped_nor_removed(name, caplog):
    spawner = Checked().use(CONTAINERS, "jupyter-alice", CONTAINERS[name]["Id"])
    asyncio.run(spawner.stop_object())
    asyncio.run(spawner.remove_object())
    assert spawner.acted == []
    assert f"Refused to stop the container jupyter-alice ({CONTAINERS[name]['Id']})" in caplog.text
    assert "Refused to remove" in caplog.text


@pytest.mark.parametrize("name", ["postgres", "jupyter-bob", "other-instance-alice"])
def test_a_saved_name_of_another_container_is_not_used(name):
    spawner = Checked().use(CONTAINERS, name)
    with pytest.raises(NotOurs) as refused:
        asyncio.run(spawner.get_object())
    assert spawner.object_id == ""
    assert f"Refused to use the container {name}" in str(refused.value)
    assert "user 'alice', server ''" in str(refused.value)


def test_a_container_already_gone_is_left_to_dockerspawner():
    spawner = Checked().use({}, "jupyter-alice", "gone1")
    asyncio.run(spawner.stop_object())
    assert spawner.acted == [("stop", "gone1")]


def test_a_volume_of_another_appliance_on_the_host_is_never_mounted():
    theirs = {"Name": "jupyterhub-user-alice", "Labels": {LABEL_INSTANCE: "course", LABEL_USER: "alice"}}
    refusal = volume_refusal(theirs, "lab")
    assert "The volume jupyterhub-user-alice belongs to the appliance 'course', not to this one ('lab')" in refusal
    assert "USER_VOLUME=lab-user-{username}" in refusal
    assert volume_refusal({**theirs, "Labels": {LABEL_INSTANCE: "lab"}}, "lab") is None
    assert volume_refusal({"Name": "made-by-hand", "Labels": None}, "lab") is None, "an admin's own volume"
