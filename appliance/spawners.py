"""The spawner the appliance uses: dockerspawner's, plus labels, real progress and honest errors.

Every container and named volume it creates carries the appliance's labels. Each step of a spawn
(pulling, creating, starting, waiting for the server) is reported through JupyterHub's progress API,
and a spawn that cannot succeed ends at once with the reason, not with a generic timeout.
"""

import asyncio
import time

import docker.errors
from dockerspawner import DockerSpawner
from traitlets import Integer, Unicode, default

LABEL_PREFIX = "jupyterhub-appliance"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_USER = f"{LABEL_PREFIX}.user"
LABEL_SERVER = f"{LABEL_PREFIX}.server"
LOG_LINES_SHOWN = 15


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
        try:
            await self.docker("inspect_image", image)
            self.report(10, f"Image {image} is on this host")
            return
        except docker.errors.ImageNotFound:
            pass
        if self.pull_policy == "never":
            raise SpawnError(f"Image {image} is not on this host, and pulling is turned off. {BUILD_HINT}")
        self.report(5, f"Pulling image {image}")
        try:
            await asyncio.to_thread(self.pull_with_progress, image)
        except docker.errors.APIError as error:
            raise SpawnError(
                f"Image {image} is not on this host, and pulling it failed: {error.explanation}. {BUILD_HINT}"
            ) from None
        self.report(10, f"Pulled image {image}")

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
        """Wait until the server accepts connections; fail fast when its container exits or it never answers."""
        self.report(60, "Waiting for the server to answer")
        deadline = time.monotonic() + self.server_start_timeout
        while time.monotonic() < deadline:
            state = (await self.docker("inspect_container", self.container_id))["State"]
            if not state["Running"]:
                await self.fail_with_logs(f"The server's container exited at once (exit code {state['ExitCode']}).")
            if await accepts_connections(ip, port):
                self.report(90, "The server answers")
                return
            await asyncio.sleep(0.1)
        await self.fail_with_logs(
            f"The server's container runs, but nothing answered on port {port} within "
            f"{self.server_start_timeout} s (SERVER_START_TIMEOUT)."
        )

    async def fail_with_logs(self, reason: str) -> None:
        """Raise a SpawnError with the container's last log lines, after removing the container.

        JupyterHub does not stop a server whose container already exited, so the spawner removes it here.
        """
        logs = await self.docker("logs", self.container_id, tail=LOG_LINES_SHOWN)
        await self.remove_object()
        raise SpawnError(f"{reason} Its last log lines:\n{logs.decode(errors='replace').strip() or '(none)'}")


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
