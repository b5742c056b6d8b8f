"""A restored or edited database must not decide which containers the hub acts on.

dockerspawner takes the container's (or service's) name and id from the state saved in the hub's
database. Before the hub stops or removes one, writes its network rules, or starts a server in its
place, the target must carry this instance's labels and the user and server the hub thinks it
belongs to; otherwise the action is refused and logged, and the container is left as it is.
"""

import docker.errors

from appliance import docker_host
from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER
from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import CONFLICT, SpawnError


def volume_refusal(volume: dict, instance: str) -> str | None:
    """Why a volume of another appliance on this host must not be mounted here; None when it may be."""
    owner = (volume.get("Labels") or {}).get(LABEL_INSTANCE)
    if owner is None or owner == instance:
        return None
    return (
        f"The volume {volume['Name']} belongs to the appliance {owner!r}, not to this one ({instance!r}), so it is "
        "not mounted: two appliances on this host name their volumes alike. An admin gives this one names of its "
        f"own, such as USER_VOLUME={instance}-user-{{username}}."
    )


def labels_of(obj: dict) -> dict[str, str]:
    """A container's labels, or a Swarm service's."""
    return (obj.get("Config") or obj.get("Spec") or {}).get("Labels") or {}


class NotOurs(SpawnError):
    """The container the saved state names is not this instance's container of this user's server."""

    def __init__(self, message: str):
        super().__init__(message, status=CONFLICT, reason="not-ours")


class OwnershipCheck(SpawnerMixinBase):
    """A mixin for DockerSpawner. Needs its `docker()`, `object_type`, `object_id`, `object_name`,
    `appliance_instance`, `user` and `name`."""

    def server_labels(self) -> dict[str, str]:
        """The labels of this server's container (or service): put on it when created, checked before use."""
        return {LABEL_INSTANCE: self.appliance_instance, LABEL_USER: self.user.name, LABEL_SERVER: self.name}

    def is_ours(self, obj: dict) -> bool:
        labels = labels_of(obj)
        return all(labels.get(key) == value for key, value in self.server_labels().items())

    def refusal(self, action: str, obj: dict) -> str:
        return (
            f"Refused to {action} the {self.object_type} {self.object_name} ({obj.get('Id', '')[:12]}): it does not "
            f"carry this appliance's labels for user {self.user.name!r}, server {self.name!r} (it has "
            f"{labels_of(obj) or 'no labels'}). The hub's saved state names a container that is not this server's "
            "(a database restored from elsewhere, or another appliance on the host); an admin checks it and removes "
            "or renames it."
        )

    def refused_by_broker(self, action: str, error: docker.errors.APIError) -> str:
        """The same refusal, when the Docker broker already refused to show the object to this appliance."""
        return (
            f"Refused to {action} the {self.object_type} {self.object_name}: it does not carry this appliance's "
            f"labels for user {self.user.name!r}, server {self.name!r} (the Docker broker: "
            f"{docker_host.error_reason(error)}). The hub's saved state names a container that is not this server's "
            "(a database restored from elsewhere, or another appliance on the host); an admin checks it and removes "
            "or renames it."
        )

    async def get_object(self):
        """The object the saved name points at, only when it is ours; otherwise the start is refused."""
        try:
            obj = await super().get_object()
        except docker.errors.APIError as error:
            if not docker_host.refused_by_broker(error):
                raise
            self.refuse(self.refused_by_broker("use", error))
        if obj is not None and not self.is_ours(obj):
            self.refuse(self.refusal("use", obj))
        return obj

    def refuse(self, message: str):
        self.object_id = ""
        self.log.error(message)
        raise NotOurs(message)

    async def checked(self, action: str) -> bool:
        """Whether `action` may act on the object the saved id (or name) points at; a refusal is logged."""
        target = self.object_id or self.object_name
        if not target:
            return False
        try:
            obj = await self.docker(f"inspect_{self.object_type}", target)
        except docker.errors.NotFound:
            return True  # gone: dockerspawner's own call says so
        except docker.errors.APIError as error:
            if not docker_host.refused_by_broker(error):
                raise
            self.log.error(self.refused_by_broker(action, error))
            return False
        if self.is_ours(obj):
            return True
        self.log.error(self.refusal(action, obj))
        return False

    async def stop_object(self):
        if await self.checked("stop"):
            await super().stop_object()

    async def remove_object(self):
        if await self.checked("remove"):
            await super().remove_object()
