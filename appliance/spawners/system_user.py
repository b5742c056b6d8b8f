"""SPAWNER_MODE=system: each server runs as the host account of the user's name, in its home on the host."""

import asyncio
import os

import docker.errors
from docker.types import Mount
from dockerspawner import DockerSpawner, SystemUserSpawner
from traitlets import Bool, Unicode

from appliance import docker_host
from appliance.host_accounts import find_account
from appliance.spawners.docker import ApplianceDockerSpawner
from appliance.spawners.errors import SpawnError, SpawnRefused


class ApplianceSystemUserSpawner(ApplianceDockerSpawner, SystemUserSpawner):
    """Runs each server as the host account of the same name: its uid, gid, groups and home.

    Accounts come from the host's passwd and group files, mounted into the hub. The server
    never runs as root: the container starts as the user, with those files mounted read-only
    so that names resolve. The home is a bind mount that must exist; Docker is not allowed to
    create it (it would be root's), and CREATE_HOMES creates it as the user's, mode 0700.
    """

    passwd_file = Unicode("/etc/appliance/host/passwd", config=True, help="The host's passwd file, as the hub sees it.")
    group_file = Unicode("/etc/appliance/host/group", config=True, help="The host's group file, as the hub sees it.")
    host_passwd_file = Unicode("/etc/passwd", config=True, help="Host path of the passwd file mounted into servers.")
    host_group_file = Unicode("/etc/group", config=True, help="Host path of the group file mounted into servers.")
    create_homes = Bool(False, config=True, help="Create a missing home directory as the user's, mode 0700.")

    def host_account(self):
        return find_account(self.user.name, self.passwd_file, self.group_file)

    # SystemUserSpawner looks ids up in the hub container's own passwd file, and raises for
    # unknown names even when JupyterHub only asks for the state; the host's files answer here.
    def _user_id_default(self):
        account = self.host_account()
        return account.uid if account else -1

    def _group_id_default(self):
        account = self.host_account()
        return account.gid if account else -1

    async def start(self):
        account = self.host_account()
        if account is None:
            raise SpawnRefused(
                403, f"There is no account named {self.user.name} on this host. Ask an admin to create one."
            )
        self.user_id, self.group_id = account.uid, account.gid
        self.extra_host_config = {**self.extra_host_config, "group_add": [str(g) for g in account.supplementary_gids]}
        return await super().start()

    @property
    def volume_binds(self):
        """Only the read-only account files as binds; the home is a mount (see mount_binds)."""
        binds = DockerSpawner.volume_binds.fget(self)
        binds[self.host_passwd_file] = {"bind": "/etc/passwd", "mode": "ro"}
        binds[self.host_group_file] = {"bind": "/etc/group", "mode": "ro"}
        return binds

    @property
    def volume_mount_points(self):
        return DockerSpawner.volume_mount_points.fget(self)

    @property
    def mount_binds(self):
        """The home as a bind mount, which Docker refuses rather than creates when the source is missing."""
        return [*super().mount_binds, Mount(target=self.homedir, source=self.host_homedir, type="bind")]

    async def create_object(self):
        try:
            return await super().create_object()
        except docker.errors.APIError as error:
            if "bind source path does not exist" not in str(error):
                raise
        if not self.create_homes:
            raise SpawnRefused(
                409,
                f"The home directory {self.host_homedir} of {self.user.name} does not exist on the host. Ask an "
                f"admin to create it (owner {self.user_id}:{self.group_id}, mode 0700), or to set CREATE_HOMES=true.",
            )
        await self.create_home()
        return await super().create_object()

    async def create_home(self) -> None:
        """Create the home as the user's own, mode 0700, from a throwaway container that sees its parent."""
        parent, name = os.path.split(self.host_homedir.rstrip("/"))
        self.report(15, f"Creating home directory {self.host_homedir}")
        command = ["install", "-d", "-o", str(self.user_id), "-g", str(self.group_id), "-m", "0700", f"/parent/{name}"]
        try:
            await asyncio.to_thread(
                docker_host.client().containers.run,
                self.image,
                command,
                entrypoint=[],
                user="0",
                volumes={parent: {"bind": "/parent", "mode": "rw"}},
                labels=self.user_labels(),
                network_mode="none",
                remove=True,
            )
        except docker.errors.ContainerError as error:
            raise SpawnError(f"Could not create {self.host_homedir}: {error.stderr.decode().strip()}") from None
