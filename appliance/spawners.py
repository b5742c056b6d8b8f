"""The spawner the appliance uses: dockerspawner's, plus labels, real progress and honest errors.

Every container and named volume it creates carries the appliance's labels. Each step of a spawn
(pulling, creating, starting, waiting for the server) is reported through JupyterHub's progress API,
and a spawn that cannot succeed ends at once with the reason, not with a generic timeout.
"""

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import docker
import docker.errors
import jupyterhub
from docker.types import Mount
from dockerspawner import DockerSpawner, SwarmSpawner, SystemUserSpawner
from tornado import web
from traitlets import Bool, Integer, Unicode, default

from appliance.docker_host import jupyterhub_version_in
from appliance.host_accounts import find_account
from appliance.images import jupyterhub_mismatch
from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER

LOG_LINES_SHOWN = 15
# Below docker-py's connection pool size (10), so that every thread has a connection of its own.
DOCKER_CALL_THREADS = 8


class SpawnError(RuntimeError):
    """A spawn that cannot succeed; JupyterHub shows its message on the spawn page and in API errors."""

    def __init__(self, message: str):
        super().__init__(message)
        self.jupyterhub_message = message


class ApplianceDockerSpawner(DockerSpawner):
    appliance_instance = Unicode(
        "jupyterhub-appliance",
        config=True,
        help="Name of this appliance, written to the instance label of every container and volume.",
    )

    server_start_timeout = Integer(
        60,
        config=True,
        help="Seconds the server process gets to answer after its container starts, before the spawn fails.",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.progress_events: list[dict] = []

    # -- Docker calls ------------------------------------------------------------------------------
    _shared_executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Docker calls of all spawns run in a few threads, not dockerspawner's single one.

        With one thread, thirty users starting at once queue every create, start and inspect
        behind each other. docker-py's client keeps a pool of connections, one per thread here.
        """
        if ApplianceDockerSpawner._shared_executor is None:
            ApplianceDockerSpawner._shared_executor = ThreadPoolExecutor(DOCKER_CALL_THREADS)
        return ApplianceDockerSpawner._shared_executor

    # -- labels and volumes ----------------------------------------------------------------------
    def user_labels(self) -> dict[str, str]:
        return {LABEL_INSTANCE: self.appliance_instance, LABEL_USER: self.user.name}

    @default("extra_create_kwargs")
    def _labels_on_containers(self):
        return {"labels": {**self.user_labels(), LABEL_SERVER: self.name}}

    def template_namespace(self):
        """Adds {server_suffix}: empty for the default server, `--name` for a named one."""
        namespace = super().template_namespace()
        namespace["server_suffix"] = f"--{namespace['servername']}" if self.name else ""
        return namespace

    async def ensure_labelled_volume(self, name: str) -> None:
        try:
            await self.docker("inspect_volume", name)
        except docker.errors.NotFound:
            self.log.info("Creating volume %s for %s", name, self.user.name)
            await self.docker("create_volume", name=name, labels=self.user_labels())

    # -- progress ---------------------------------------------------------------------------------
    def report(self, progress: int, message: str) -> None:
        self.progress_events.append({"progress": progress, "message": message})
        self.log.info("Spawn of %s: %s", self._log_name, message)

    async def progress(self):
        """Yield the spawn's steps as they happen; JupyterHub stops iterating when the spawn ends."""
        sent = 0
        while True:
            while sent < len(self.progress_events):
                yield self.progress_events[sent]
                sent += 1
            await asyncio.sleep(0.2)

    # -- the spawn --------------------------------------------------------------------------------
    async def start(self):
        self.progress_events = []
        ip, port = await super().start()
        await self.wait_for_server(ip, port)
        return ip, port

    async def pull_image(self, image):
        """Pull as dockerspawner's pull_policy says, reporting Docker's progress and failing with the reason."""
        if self.pull_policy == "skip":
            return
        present = await self.image_id(image)
        if present and self.pull_policy != "always":
            self.report(10, f"Image {image} is on this host")
            await self.check_jupyterhub_version(image, present)
            return
        if not present and self.pull_policy == "never":
            raise SpawnError(f"Image {image} is not on this host, and pulling is turned off. {BUILD_HINT}")
        self.report(5, f"Pulling image {image}")
        try:
            await asyncio.to_thread(self.pull_with_progress, image)
        except docker.errors.APIError as error:
            situation = "could not be pulled" if present else "is not on this host, and pulling it failed"
            raise SpawnError(f"Image {image} {situation}: {error.explanation}. {BUILD_HINT}") from None
        self.report(10, f"Pulled image {image}")
        await self.check_jupyterhub_version(image, await self.image_id(image))

    # The JupyterHub version in each image, by image id (content-addressed, so never stale); spawns of
    # the same image at once share one question. None: the image could not tell.
    _jupyterhub_versions: ClassVar[dict[str, asyncio.Task]] = {}

    async def check_jupyterhub_version(self, image: str, image_id: str) -> None:
        """Refuse an image whose JupyterHub cannot work with the hub's; each image is asked once."""
        if image_id not in self._jupyterhub_versions:
            self.report(11, f"Asking image {image} for its JupyterHub version")
            self._jupyterhub_versions[image_id] = asyncio.ensure_future(
                asyncio.to_thread(jupyterhub_version_in, docker.from_env(), image, self.user_labels())
            )
        found = await self._jupyterhub_versions[image_id]
        mismatch = jupyterhub_mismatch(image, found, jupyterhub.__version__)
        if mismatch:
            raise SpawnError(mismatch)
        if found:
            self.report(12, f"Image {image} has JupyterHub {found}; the hub has {jupyterhub.__version__}")
        else:
            self.log.warning("Could not tell which JupyterHub image %s has; starting it anyway", image)
            self.report(12, f"Could not tell which JupyterHub image {image} has; starting it anyway")

    async def image_id(self, image: str) -> str | None:
        """The image's id on this host; None when the host does not have it."""
        try:
            return (await self.docker("inspect_image", image))["Id"]
        except docker.errors.ImageNotFound:
            return None

    def pull_with_progress(self, image: str) -> None:
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
        last_reported = 0.0
        for line in self.client.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise docker.errors.APIError(line["error"], explanation=line["error"])
            if time.monotonic() - last_reported > 1 and line.get("progress"):
                self.report(7, f"Pulling {image}: {line.get('status', '')} {line['progress']}")
                last_reported = time.monotonic()

    async def create_object(self):
        for source in self.volume_binds:
            if not source.startswith("/"):
                await self.ensure_labelled_volume(source)
        self.report(20, f"Creating container {self.object_name}")
        return await super().create_object()

    async def start_object(self):
        self.report(40, f"Starting container {self.object_name}")
        await super().start_object()

    async def wait_for_server(self, ip: str, port: int) -> None:
        """Wait until the server accepts connections; fail fast when its container exits or it never answers.

        The port is tried every 0.05 s; Docker is asked whether the container still runs once a second,
        so that many spawns at once do not queue up Docker calls.
        """
        self.report(60, "Waiting for the server to answer")
        deadline = time.monotonic() + self.server_start_timeout
        next_state_check = time.monotonic() + 1
        while time.monotonic() < deadline:
            if await accepts_connections(ip, port):
                self.report(90, "The server answers")
                return
            if time.monotonic() >= next_state_check:
                reason = await self.exit_reason()
                if reason:
                    await self.fail_with_logs(reason)
                next_state_check = time.monotonic() + 1
            await asyncio.sleep(0.05)
        await self.fail_with_logs(
            f"The server's container runs, but nothing answered on port {port} within "
            f"{self.server_start_timeout} s (SERVER_START_TIMEOUT)."
        )

    async def poll(self):
        """As dockerspawner polls, and a container that stopped by itself is removed, its end logged.

        JupyterHub calls `stop()` only for servers that still run, so without this a container that
        died (or stopped with dockerd or the host) would stay behind until the user's next start.
        """
        status = await super().poll()
        if status is not None and self.remove and self.object_id:
            await self.remove_stopped_container(status)
        return status

    async def remove_stopped_container(self, status) -> None:
        try:
            logs = await self.recent_logs()
        except docker.errors.NotFound:
            return
        self.log.warning(
            "The container of %s stopped by itself (%s); removing it, its volume stays. Its last log lines:\n%s",
            self._log_name,
            status,
            logs or "(none)",
        )
        await self.remove_object()
        self.object_id = ""

    async def exit_reason(self) -> str | None:
        """Why the server's container no longer runs; None while it runs."""
        state = (await self.docker("inspect_container", self.container_id))["State"]
        return None if state["Running"] else f"The server's container exited at once (exit code {state['ExitCode']})."

    async def recent_logs(self) -> str:
        logs = await self.docker("logs", self.container_id, tail=LOG_LINES_SHOWN)
        return logs.decode(errors="replace").strip()

    async def fail_with_logs(self, reason: str) -> None:
        """Raise a SpawnError with the server's last log lines, after removing its container.

        JupyterHub does not stop a server whose container already exited, so the spawner removes it here.
        """
        logs = await self.recent_logs()
        await self.remove_object()
        raise SpawnError(f"{reason} Its last log lines:\n{logs or '(none)'}")


BUILD_HINT = (
    "An admin can build or pull it on the Docker host (the appliance's own user image: `docker compose build`)."
)


async def accepts_connections(ip: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout=1)
    except (TimeoutError, OSError):
        return False
    writer.close()
    return True


class SpawnRefused(web.HTTPError):
    """A spawn refused for a reason the user should read, with a 4xx status rather than a 500."""

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.jupyterhub_message = message


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
                docker.from_env().containers.run,
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


TASK_ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


class ApplianceSwarmSpawner(ApplianceDockerSpawner, SwarmSpawner):
    """Runs each server as a Swarm service on the overlay network, reached at its running task's address.

    The service name would also resolve, but a hub keeps connecting to an address it resolved
    before; after a service is recreated under the same name that is a dead task's address. The
    task's own address (from the tasks API) is always the live one. Each step of the spawn is
    reported (service created, task scheduled on a node, task running, server answering), and a
    task that Swarm rejects, a missing image on its node say, ends the spawn with Swarm's reason.
    """

    @property
    def mounts(self):
        """Named volumes as volume mounts, labelled like docker mode's, through VOLUME_DRIVER when set."""
        return [
            Mount(
                target=bind["bind"],
                source=source,
                type="volume",
                read_only=bind["mode"] == "ro",
                driver_config=self.mount_driver_config,
                labels=self.user_labels(),
            )
            for source, bind in self.volume_binds.items()
        ]

    async def pull_image(self, image):
        """Swarm's nodes pull for themselves; the manager only says whether it has the image."""
        image_id = await self.image_id(image)
        if image_id:
            self.report(10, f"Image {image} is on this manager")
            await self.check_jupyterhub_version(image, image_id)
        else:
            self.report(10, f"Image {image} is not on this manager; the node Swarm picks must have or pull it")

    async def get_command(self):
        """The image's own command when the manager has the image to read it from, else JupyterHub's default."""
        if self.cmd or await self.image_id(self.image):
            return await super().get_command()
        return ["jupyterhub-singleuser", *self.get_args()]

    async def create_object(self):
        self.report(20, f"Creating service {self.object_name}")
        service = await SwarmSpawner.create_object(self)
        self.report(30, f"Service {self.object_name} created; waiting for Swarm to schedule its task")
        return service

    async def start_object(self):
        """Wait until the task runs, reporting where it was scheduled; fail at once when Swarm gives up on it."""
        reported_node = False
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            task = await self.get_task()
            if task is None:
                raise SpawnError(f"Swarm has no task for the service {self.service_name}.")
            state = task["Status"]["State"]
            if task.get("NodeID") and not reported_node:
                node = await self.docker("inspect_node", task["NodeID"])
                self.report(40, f"Task scheduled on node {node['Description']['Hostname']}")
                reported_node = True
            if state == "running":
                self.report(50, "Task running")
                return
            if state in TASK_ENDED:
                await self.remove_object()
                raise SpawnError(self.task_failure(task))
            await asyncio.sleep(0.25)
        raise SpawnError(f"The task of {self.service_name} did not run within {self.start_timeout} s.")

    def task_failure(self, task: dict) -> str:
        reason = task["Status"].get("Err") or task["Status"].get("Message") or task["Status"]["State"]
        if "No such image" in reason:
            return (
                f"Image {self.image} is not on the node Swarm chose, and it could not be pulled there ({reason}). "
                "Every node that may run user servers needs the image: build or pull it there, or use a registry."
            )
        return f"Swarm could not run the server's task: {reason}."

    async def get_ip_and_port(self):
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments", []):
            if attachment["Network"]["Spec"]["Name"] == self.network_name and attachment.get("Addresses"):
                return attachment["Addresses"][0].split("/")[0], self.port
        raise SpawnError(f"The task of {self.service_name} has no address on the network {self.network_name}.")

    async def exit_reason(self) -> str | None:
        task = await self.get_task()
        if task is None:
            return "The server's service is gone."
        status = task["Status"]
        return None if status["State"] == "running" else f"The server's task stopped ({status['State']})."

    async def recent_logs(self) -> str:
        def read() -> bytes:
            return b"".join(self.client.service_logs(self.service_id, stdout=True, stderr=True, tail=LOG_LINES_SHOWN))

        return (await asyncio.to_thread(read)).decode(errors="replace").strip()
