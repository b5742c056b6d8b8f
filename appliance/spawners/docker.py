"""SPAWNER_MODE=docker: dockerspawner's DockerSpawner, plus labels, real progress and honest errors.

Every container and named volume it creates carries the appliance's labels. Each step of a spawn
(pulling, creating, starting, waiting for the server) is reported through JupyterHub's progress API,
and a spawn that cannot succeed ends at once with the reason, not with a generic timeout. The other
modes' spawners build on this one.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors
from dockerspawner import DockerSpawner
from traitlets import Integer, Unicode, default, validate

from appliance import docker_host
from appliance.declarations import present
from appliance.labels import LABEL_HELPER_FOR, LABEL_INSTANCE, LABEL_SHARED, LABEL_USER
from appliance.network_rules import NetworkRulesError
from appliance.profiles import Profile, SharedVolume
from appliance.spawners.deletion import DeletedUserData
from appliance.spawners.errors import CONFLICT, SERVER_FAILED, UNAVAILABLE, SpawnError
from appliance.spawners.image_gate import ImageGate
from appliance.spawners.isolation import NetworkIsolation
from appliance.spawners.ownership import NotOurs, OwnershipCheck, volume_refusal
from appliance.spawners.profile_choice import ProfileChoice, device_requests
from appliance.spawners.readiness import ServerReadiness
from appliance.spawners.user_storage import UserStorage

DOCKER_CALL_THREADS = 8
# A connection for each Docker call thread, and for the helpers (rules, version probe) that spawns run
# beside them in asyncio's default threads (min(32, cores + 4)).
DOCKER_CONNECTIONS = DOCKER_CALL_THREADS + 8
SHARED_VOLUME_HELPER_SECONDS = 60
# Docker's answer to a GPU request on an engine without a GPU runtime (NVIDIA Container Toolkit).
NO_GPU_DRIVER = "could not select device driver"
GPU_TOOLKIT_FIX = (
    "An admin installs the NVIDIA Container Toolkit on the Docker host and configures Docker for it "
    "(`nvidia-ctk runtime configure --runtime=docker`, then restart Docker); `appliance doctor` checks it."
)


class ApplianceDockerSpawner(
    ProfileChoice,
    NetworkIsolation,
    ImageGate,
    ServerReadiness,
    OwnershipCheck,
    DeletedUserData,
    UserStorage,
    DockerSpawner,
):
    extra_host_config: dict[str, Any]  # DockerSpawner's trait, as this class uses it

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

    @validate("cookie_options")
    def _without_partitioned(self, proposal):
        """The hub's cookie options but `partitioned` (LTI_PLATFORM_ORIGINS), which Python before 3.14 cannot
        write: a server of one's own image would fail at its first cookie. The appliance's image adds it back."""
        return {name: value for name, value in proposal.value.items() if name != "partitioned"}

    # -- Docker calls ------------------------------------------------------------------------------
    _shared_executor: ThreadPoolExecutor | None = None
    _shared_engine: docker.DockerClient | None = None

    @property
    def engine(self) -> docker.DockerClient:
        """One client for all spawns and their helpers, from the appliance's single Docker seam."""
        if ApplianceDockerSpawner._shared_engine is None:
            ApplianceDockerSpawner._shared_engine = docker_host.client(connections=DOCKER_CONNECTIONS)
        return ApplianceDockerSpawner._shared_engine

    @property
    def client(self) -> docker.APIClient:
        """dockerspawner's low-level client: the shared one's."""
        return self.engine.api

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

    def helper_labels(self) -> dict[str, str]:
        """Throwaway helpers of this spawn: the instance's, but not the user's own containers."""
        return {LABEL_INSTANCE: self.appliance_instance, LABEL_HELPER_FOR: self.user.name}

    @default("extra_create_kwargs")
    def _labels_on_containers(self):
        return {"labels": self.server_labels()}

    def template_namespace(self):
        """Adds {server_suffix}: empty for the default server, `--name` for a named one."""
        namespace = super().template_namespace()
        namespace["server_suffix"] = f"--{namespace['servername']}" if self.name else ""
        return namespace

    async def ensure_volume(self, name: str, labels: dict[str, str], whose: str) -> bool:
        """Create the volume with these labels unless it exists; True when it was created. Another appliance's
        volume of that name is refused."""
        found = await self.found_volume(name)
        if found is not None:
            self.refuse_unless_ours(found)
            return False
        await self.create_volume(name, labels, whose)
        return True

    async def ensure_user_volume(self, name: str) -> None:
        """The user's own volume; in USER_STORAGE_DIR, its subvolume and quota before it is made or mounted."""
        found = await self.found_volume(name)
        if found is not None:
            self.refuse_unless_ours(found)
        await self.ensure_quota(name, found)
        if found is None:
            await self.create_volume(name, self.user_labels(), self.user.name, self.user_volume_options(name))

    async def found_volume(self, name: str) -> dict | None:
        try:
            return await self.docker("inspect_volume", name)
        except docker.errors.NotFound:
            return None

    def refuse_unless_ours(self, found: dict) -> None:
        refusal = volume_refusal(found, self.appliance_instance)
        if refusal:
            self.log.error(refusal)
            raise SpawnError(refusal, status=CONFLICT, reason="not-ours")

    async def create_volume(
        self, name: str, labels: dict[str, str], whose: str, driver_opts: dict[str, str] | None = None
    ) -> None:
        """A new volume with these labels: Docker's own, or a local bind of a folder (`driver_opts`)."""
        self.log.info("Creating volume %s for %s", name, whose)
        bind = {"driver": "local", "driver_opts": driver_opts} if driver_opts else {}
        await self.docker("create_volume", name=name, labels=labels, **bind)

    def shared_labels(self) -> dict[str, str]:
        """A profile's shared volume belongs to the instance, not to a user; the appliance never removes it."""
        return {LABEL_INSTANCE: self.appliance_instance, LABEL_SHARED: "true"}

    async def ensure_shared_volume(self, volume: SharedVolume) -> None:
        """Create a missing shared volume; a writable one (a scratch) is opened to every user of the profile."""
        created = await self.ensure_volume(
            volume.name, self.shared_labels(), f"the profile {present(self.profile).name}"
        )
        if created and not volume.read_only:
            await self.open_to_every_user(volume.name)

    async def open_to_every_user(self, name: str) -> None:
        """Mode 0777 and a default ACL of rwx for all: every user of the scratch reads and edits every file in it,
        whatever their uid and umask, in a helper with no network and no capability (root owns the new volume)."""
        try:
            status, _, stderr = await asyncio.to_thread(
                docker_host.run_to_end,
                self.engine,
                SHARED_VOLUME_HELPER_SECONDS,
                entrypoint=["python3", "-m", "appliance.helpers.open_to_every_user", "/shared"],
                user="0",
                volumes={name: {"bind": "/shared", "mode": "rw"}},
                network_mode="none",
                **docker_host.helper_options(docker_host.own_image(self.engine), self.helper_labels()),
            )
        except (docker.errors.DockerException, docker_host.NotInAContainer) as error:
            raise SpawnError(f"Could not make the shared volume {name} writable: {error}") from None
        if status != 0:
            raise SpawnError(f"Could not make the shared volume {name} writable: {stderr}")
        if stderr:
            self.log.warning("Shared volume %s: %s", name, stderr)

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
        self.apply_devices_and_placement(self.apply_profile())
        try:
            ip, port = await super().start()
        except NetworkRulesError as error:
            await self.remove_object()
            raise SpawnError(
                f"The server's network rules could not be applied, so it was removed: {error}. "
                "An admin can run `appliance doctor` in the hub container to see why."
            ) from None
        await self.wait_for_server(ip, port)
        return ip, port

    def apply_devices_and_placement(self, profile: Profile) -> None:
        """The profile's GPUs as DeviceRequests; the rest of the configured host config stays as it is."""
        host_config = {key: value for key, value in self.extra_host_config.items() if key != "device_requests"}
        if profile.gpus is not None:
            host_config["device_requests"] = device_requests(profile.gpus)
        self.extra_host_config = host_config

    async def create_object(self):
        self.fit_home_to_image()
        shared = self.shared_volumes
        for source in self.volume_binds:
            if source in shared:
                await self.ensure_shared_volume(shared[source])
            elif not source.startswith("/"):
                await self.ensure_user_volume(source)
        self.report(20, f"Creating container {self.object_name}")
        created = await super().create_object()
        if self.network_isolation:
            await self.hold_off_the_network(created["Id"])
        return created

    async def start_object(self):
        self.report(40, f"Starting container {self.object_name}")
        try:
            await super().start_object()
        except docker.errors.APIError as error:
            if NO_GPU_DRIVER not in str(error):
                raise
            await self.fail_without_gpus(error)
        if self.network_isolation:
            await self.isolate_network_or_say_why_not()
            await self.join_the_network()

    async def isolate_network_or_say_why_not(self) -> None:
        """The rules; when they cannot be written because the server already exited, its exit and logs say why."""
        try:
            await self.isolate_network()
        except NetworkRulesError:
            reason = await self.exit_reason()
            if reason:
                await self.fail_with_logs(reason, SERVER_FAILED)
            raise

    async def fail_without_gpus(self, error: docker.errors.APIError) -> None:
        """A GPU profile on an engine without GPU support: say so, and log what the container asked for."""
        requested = (await self.docker("inspect_container", self.container_id))["HostConfig"].get("DeviceRequests")
        self.log.warning(
            "The container %s asked for GPUs (DeviceRequests %s) and could not start: %s",
            self.object_name,
            requested,
            error.explanation,
        )
        await self.remove_object()
        raise SpawnError(
            f"The profile {present(self.profile).name} asks for GPUs ({present(self.profile).gpus}), but this host's "
            "Docker engine has "
            f"no GPU support (Docker: {error.explanation}). {GPU_TOOLKIT_FIX}",
            status=UNAVAILABLE,
            reason="gpu",
        )

    async def poll(self):
        """As dockerspawner polls, and a container that stopped by itself is removed, its end logged.

        JupyterHub calls `stop()` only for servers that still run, so without this a container that
        died (or stopped with dockerd or the host) would stay behind until the user's next start.
        """
        try:
            status = await super().poll()
        except NotOurs:
            return "the saved state names a container that is not this server's (see the log)"
        if status is not None and self.remove and self.object_id:
            await self.remove_stopped_container(status)
        if status is None and self.network_isolation and self.rules_recheck_due():
            self.rules_recheck = asyncio.ensure_future(self.recheck_network_rules())
        return status

    async def recheck_network_rules(self) -> None:
        try:
            await self.check_rules_of_running_server()
        except NetworkRulesError as error:
            self.log.error("The network rules of %s could not be applied again: %s", self._log_name, error)
