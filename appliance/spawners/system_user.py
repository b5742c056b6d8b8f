"""SPAWNER_MODE=system: each server runs as the host account of the user's name, in its home on the host."""

import asyncio

import docker.errors
from docker.types import Mount
from dockerspawner import DockerSpawner, SystemUserSpawner
from traitlets import Bool, Integer, Unicode

from appliance import docker_host
from appliance.helpers import NEW_HOME, home_entrypoint
from appliance.host_accounts import Account, find_account, group_id, in_group
from appliance.layout import HOST_GROUP_IN_HUB, HOST_PASSWD_IN_HUB
from appliance.spawners.docker import ApplianceDockerSpawner
from appliance.spawners.errors import SpawnError, SpawnRefused

HOME_HELPER_SECONDS = 60


class ApplianceSystemUserSpawner(ApplianceDockerSpawner, SystemUserSpawner):
    """Runs each server as the host account of the same name: its uid, gid, groups and home.

    Accounts come from the host's passwd and group files, mounted into the hub. The server
    never runs as root: the container starts as the user, with those files mounted read-only
    so that names resolve. The home is a bind mount that must exist; Docker is not allowed to
    create it (it would be root's), and CREATE_HOMES creates it as the user's, mode 0700.
    """

    home_from_image = False  # the home is the host account's, wherever the image keeps its own

    passwd_file = Unicode(HOST_PASSWD_IN_HUB, config=True, help="The host's passwd file, as the hub sees it.")
    group_file = Unicode(HOST_GROUP_IN_HUB, config=True, help="The host's group file, as the hub sees it.")
    host_passwd_file = Unicode("/etc/passwd", config=True, help="Host path of the passwd file mounted into servers.")
    host_group_file = Unicode("/etc/group", config=True, help="Host path of the group file mounted into servers.")
    create_homes = Bool(False, config=True, help="Create a missing home directory as the user's, mode 0700.")
    min_uid = Integer(1000, config=True, help="Accounts below this uid, and root always, get no server.")
    users_group = Unicode("", config=True, help="When set, only members of this host group get servers.")

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
        self.refuse_unless_eligible(account)
        self.user_id, self.group_id = account.uid, account.gid
        self.extra_host_config = {**self.extra_host_config, "group_add": [str(g) for g in account.supplementary_gids]}
        return await super().start()

    def refuse_unless_eligible(self, account: Account | None) -> None:
        """Only ordinary host accounts get servers: never root or a system account, and only the allowed group's."""
        name = self.user.name
        if account is None:
            raise SpawnRefused(403, f"There is no account named {name} on this host. Ask an admin to create one.")
        if account.uid == 0 or account.uid < self.min_uid:
            raise SpawnRefused(
                403,
                f"The host account {name} has uid {account.uid}, below SYSTEM_MIN_UID={self.min_uid}: root and "
                "system accounts never get a server on this hub.",
            )
        if not self.users_group:
            return
        gid = group_id(self.users_group, self.group_file)
        if gid is None or not in_group(account, gid):
            raise SpawnRefused(
                403,
                f"The host account {name} is not in the group {self.users_group} (SYSTEM_USERS_GROUP), whose members "
                "alone get servers on this hub. Ask an admin to add you to it.",
            )

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
        """Create the home as the user's own, mode 0700, with the appliance's own image (never a user-chosen one).

        Docker creates the missing folder for a bind mount of it (as root, 0755); a helper that sees only
        that folder, with no network and CHOWN as its only capability, then makes it the user's.
        """
        self.report(15, f"Creating home directory {self.host_homedir}")
        try:
            status, _, stderr = await asyncio.to_thread(self.run_home_helper)
        except (docker.errors.DockerException, docker_host.NotInAContainer) as error:
            raise SpawnError(f"Could not create {self.host_homedir}: {error}") from None
        if status != 0:
            raise SpawnError(
                f"Could not create {self.host_homedir}: {stderr}. If an empty folder owned by root was left there, "
                f"an admin can remove it, or chown it to {self.user_id}:{self.group_id}."
            )

    def run_home_helper(self) -> tuple[int, str, str]:
        return docker_host.run_to_end(
            self.engine,
            HOME_HELPER_SECONDS,
            entrypoint=home_entrypoint(self.user_id, self.group_id),
            user="0",
            volumes={self.host_homedir: {"bind": NEW_HOME, "mode": "rw"}},
            cap_add=["CHOWN"],
            network_mode="none",
            **docker_host.helper_options(docker_host.own_image(self.engine), self.helper_labels()),
        )
