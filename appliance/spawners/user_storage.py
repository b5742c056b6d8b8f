"""Homes with quotas (USER_STORAGE_DIR; SWARM_HOMES in swarm mode): a new user volume binds its own btrfs subvolume
there, limited to USER_DISK_QUOTA; the storage helper makes the subvolume and sets the quota before the volume is first
mounted, and again at the first start after a hub restart (a changed quota counts then). A home made before quotas
keeps working, without one. The server is told where the kernel shows the home's use and limit
(APPLIANCE_HOME_QGROUP), for JupyterLab."""

import asyncio
from typing import ClassVar

from traitlets import Integer, Unicode

from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import SpawnError
from appliance.storage import quotas


class UserStorage(SpawnerMixinBase):
    """A mixin for ApplianceDockerSpawner. Needs its `engine`, `helper_labels()`, `report()` and `user`."""

    user_storage_dir = Unicode("", config=True, help="The host folder (btrfs) of users' homes with quotas.")
    disk_quota = Integer(0, config=True, help="USER_DISK_QUOTA in bytes: what each home may hold.")
    # The setting that names user_storage_dir, in messages.
    storage_setting: ClassVar[str] = "USER_STORAGE_DIR"

    # The quota each volume was given by this hub process, and its qgroup in sysfs: the helper runs once per volume,
    # not at every start.
    quotas_set: ClassVar[dict[str, tuple[int, str]]] = {}
    home_qgroup = ""

    def user_volume_options(self, name: str) -> dict[str, str] | None:
        """The local driver's options of a new user volume: a bind of its subvolume, or none (a Docker volume)."""
        return quotas.bind_options(self.user_storage_dir, name) if self.user_storage_dir else None

    async def ensure_quota(self, name: str, found: dict | None) -> None:
        """Before the volume is created (`found` None) or mounted again: its subvolume, with the quota."""
        if not self.user_storage_dir:
            return
        if found is not None and not quotas.binds_into(found, self.user_storage_dir):
            self.warn_no_quota(name)
            return
        await self.apply_quota(name, new=found is None)

    def warn_no_quota(self, name: str) -> None:
        self.log.warning("%s's home %s was made before %s had quotas: it has none (docs/storage.md says how to "
                         "move it)", self.user.name, name, self.storage_setting)  # fmt: skip

    async def apply_quota(self, name: str, new: bool) -> None:
        """The quota of a new home, or of one whose quota changed since this hub process last set it."""
        quota, qgroup = UserStorage.quotas_set.get(name, (None, ""))
        if new or quota != self.disk_quota:
            qgroup = await self.set_quota(name)
            UserStorage.quotas_set[name] = self.disk_quota, qgroup
        self.home_qgroup = qgroup

    async def set_quota(self, name: str) -> str:
        """The storage helper's work; the qgroup's folder in sysfs."""
        self.report(15, f"Setting the disk quota of {name}: {self.disk_quota // 2**20} MiB")
        try:
            answer = await asyncio.to_thread(
                quotas.run_helper, self.engine, quotas.QuotaHomes(self.storage_setting, self.user_storage_dir),
                self.helper_labels(),
                "ensure", name, str(self.disk_quota), self.appliance_instance, self.user.name,
            )  # fmt: skip
        except quotas.StorageError as error:
            raise SpawnError(f"The home of {self.user.name} cannot be given its disk quota: {error}") from None
        return str(answer.get("qgroup", ""))

    def get_env(self):
        env = super().get_env()
        if self.home_qgroup:
            env["APPLIANCE_HOME_QGROUP"] = self.home_qgroup
        return env
