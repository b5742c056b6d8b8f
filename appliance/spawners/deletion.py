"""When JupyterHub deletes a user, or a user a named server, its volumes are kept, archived then removed, or removed
(DELETED_USER_DATA), through the same code as `appliance user-data`. Only this instance's volumes labelled for that
user are touched; an archive that fails or does not check out leaves every volume as it was."""

import asyncio

import docker.errors
from traitlets import Enum

from appliance import docker_host
from appliance.labels import LABEL_INSTANCE, LABEL_SHARED, LABEL_USER
from appliance.spawners.base import SpawnerMixinBase
from appliance.storage import lifecycle
from appliance.storage.lifecycle import UserData, UserDataError


class DeletedUserData(SpawnerMixinBase):
    """A mixin for DockerSpawner. Needs its `volume_binds`, `shared_volumes`, `appliance_instance` and `user`."""

    deleted_user_data = Enum(
        ("keep", "archive", "remove"),
        "keep",
        config=True,
        help="DELETED_USER_DATA: what becomes of a deleted user's (or named server's) volumes.",
    )

    async def delete_forever(self):
        """Called by JupyterHub once the server is stopped, before its record goes: the user's answer is awaited."""
        data = UserData(self.user.name, await self.volumes_to_dispose(), False, False, None)
        if not data.volumes:
            return
        if self.deleted_user_data == "keep":
            self.log.info("%s was deleted; their volumes %s are kept (DELETED_USER_DATA=keep; `appliance user-data "
                          "list` shows them)", self._log_name, ", ".join(data.volumes))  # fmt: skip
            return
        try:
            await asyncio.to_thread(self.dispose, data)
        except (UserDataError, docker.errors.DockerException) as error:
            self.log.error("%s was deleted, but their volumes %s are kept: %s", self._log_name, data.volumes, error)

    async def volumes_to_dispose(self) -> tuple[str, ...]:
        """This server's own volumes that exist and carry this instance's and this user's labels."""
        names = [name for name in self.volume_binds if name not in self.shared_volumes and not name.startswith("/")]
        found = []
        for name in names:
            try:
                labels = (await self.docker("inspect_volume", name)).get("Labels") or {}
            except docker.errors.NotFound:
                continue
            ours = labels.get(LABEL_INSTANCE) == self.appliance_instance and labels.get(LABEL_USER) == self.user.name
            if ours and not labels.get(LABEL_SHARED):
                found.append(name)
            else:
                self.log.warning("Volume %s is not %s's of this appliance (%s): left as it is", name, self.user.name,
                                 labels)  # fmt: skip
        return tuple(found)

    def dispose(self, data: UserData) -> None:
        engine = docker_host.client(timeout=lifecycle.ARCHIVE_SECONDS)
        say = self.log.info
        if self.deleted_user_data == "archive":
            lifecycle.archive(engine, self.appliance_instance, data, say)
        lifecycle.remove(engine, data, say)
