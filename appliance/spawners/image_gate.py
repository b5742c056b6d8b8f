"""The image gate of every spawn: the image is there (pulled with progress when it is not), and its
JupyterHub can work with the hub's, asked once per image."""

import asyncio
import time
from typing import Any, ClassVar

import docker.errors
import jupyterhub

from appliance import docker_host, image_pulls
from appliance.images import jupyterhub_mismatch, looks_like_docker_stacks
from appliance.layout import HOME_DIR
from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import CONFLICT, UNAVAILABLE, SpawnError

BUILD_HINT = (
    "An admin can build or pull it on the Docker host (the appliance's own user image: `docker compose build`)."
)


def home_of_image(config: dict) -> tuple[str, str]:
    """Where an image keeps its user's home (its HOME, as docker-stacks and repo2docker images declare it; else
    /home/jovyan), and where JupyterLab opens: the image's working folder when it is in the home, else the home."""
    env = dict(item.split("=", 1) for item in config.get("Env") or () if "=" in item)
    home = (env.get("HOME") or HOME_DIR).rstrip("/") or HOME_DIR
    workdir = (config.get("WorkingDir") or "").rstrip("/")
    return home, workdir if workdir == home or workdir.startswith(home + "/") else home


def moved_home(volumes: dict[str, Any], home: str) -> dict[str, Any]:
    """The volumes (name: path, or name: {"bind": path, …}) with /home/jovyan, and what is in it, moved to the
    image's home: the user's volume, ~/work, and profiles' volumes mounted in the home."""

    def moved(path: str) -> str:
        return home + path.removeprefix(HOME_DIR) if path == HOME_DIR or path.startswith(f"{HOME_DIR}/") else path

    return {
        name: {**target, "bind": moved(target["bind"])} if isinstance(target, dict) else moved(target)
        for name, target in volumes.items()
    }


class ImageGate(SpawnerMixinBase):
    """A mixin for DockerSpawner: `pull_image` as its pull_policy says, with progress and reasons.

    Needs the spawner's `docker()`, `client`, `engine`, `pull_policy`, `report()` and `helper_labels()`.
    """

    volumes: dict[str, Any]  # DockerSpawner's trait, as this class uses it
    # Docker and swarm mode: the home volume goes where the image keeps its user's home (not system mode's).
    home_from_image: ClassVar[bool] = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.image_configs: dict[str, dict] = {}  # the config of each image this spawner inspected, by reference

    def fit_home_to_image(self) -> None:
        """The home volume (and ~/work in it) where the spawn's image has its home, JupyterLab in its working
        folder; from the config read when the image's presence was checked (none read: /home/jovyan, ~/work)."""
        config = self.image_configs.get(self.image)
        if not self.home_from_image or config is None:
            return
        home, notebook_dir = home_of_image(config)
        self.volumes = moved_home(self.volumes, home)
        self.notebook_dir = notebook_dir

    async def pull_image(self, image):
        """Pull as dockerspawner's pull_policy says, reporting Docker's progress and failing with the reason."""
        if self.pull_policy == "skip":
            return
        present = await self.image_id(image)
        if present and self.pull_policy != "always":
            self.report(10, f"Image {image} is on this host")
            await self.check_jupyterhub_version(image, present)
            return
        if not present and await self.joined_pull_ahead(image):
            present = await self.image_id(image)
            if present:
                self.report(10, f"Pulled image {image}")
                await self.check_jupyterhub_version(image, present)
                return
        if not present and self.pull_policy == "never":
            raise SpawnError(
                f"Image {image} is not on this host, and pulling is turned off. {BUILD_HINT}",
                status=UNAVAILABLE,
                reason="image",
            )
        self.report(5, f"Pulling image {image}")
        try:
            await asyncio.to_thread(self.pull_with_progress, image)
        except docker.errors.APIError as error:
            situation = "could not be pulled" if present else "is not on this host, and pulling it failed"
            raise SpawnError(
                f"Image {image} {situation}: {error.explanation}. {BUILD_HINT}", status=UNAVAILABLE, reason="image"
            ) from None
        self.report(10, f"Pulled image {image}")
        pulled = await self.image_id(image)
        if pulled is None:
            raise SpawnError(
                f"Image {image} was pulled, then was gone from this host", status=UNAVAILABLE, reason="image"
            )
        await self.check_jupyterhub_version(image, pulled)

    async def joined_pull_ahead(self, image: str) -> bool:
        """Wait for the pull that began at hub start (appliance.image_pulls), if one is under way, showing its
        progress; True when there was one. It may have failed: then the image is still missing."""
        state = image_pulls.read_states().get(image)
        if state is None or not state.pulling:
            return False
        self.report(5, f"Image {image} is being pulled since the hub started; waiting for that pull")
        deadline, shown = time.monotonic() + self.start_timeout, ""
        while state is not None and state.pulling and time.monotonic() < deadline:
            if state.progress != shown:
                self.report(7, f"Pulling {image}: {state.progress}")
                shown = state.progress
            await asyncio.sleep(1)
            state = image_pulls.read_states().get(image)
        return True

    # The JupyterHub version in each image, by image id (content-addressed, so never stale); spawns of
    # the same image at once share one question. None: the image could not tell.
    _jupyterhub_versions: ClassVar[dict[str, asyncio.Task]] = {}

    async def check_jupyterhub_version(self, image: str, image_id: str) -> None:
        """Refuse an image whose JupyterHub cannot work with the hub's; each image is asked once."""
        if image_id not in self._jupyterhub_versions:
            self.report(11, f"Asking image {image} for its JupyterHub version")
            self._jupyterhub_versions[image_id] = asyncio.ensure_future(
                asyncio.to_thread(docker_host.jupyterhub_version_in, self.engine, image, self.helper_labels())
            )
        found = await self._jupyterhub_versions[image_id]
        if mismatch := jupyterhub_mismatch(image, found, jupyterhub.__version__):
            # Only a refusal needs the image's config: it names docker-stacks' pinned tag.
            config = (await self.docker("inspect_image", image_id))["Config"]
            docker_stacks = looks_like_docker_stacks(config)
            named = jupyterhub_mismatch(image, found, jupyterhub.__version__, docker_stacks)
            raise SpawnError(named or mismatch, status=CONFLICT, reason="image")
        if found:
            self.report(12, f"Image {image} has JupyterHub {found}; the hub has {jupyterhub.__version__}")
        else:
            self.log.warning("Could not tell which JupyterHub image %s has; starting it anyway", image)
            self.report(12, f"Could not tell which JupyterHub image {image} has; starting it anyway")

    async def image_id(self, image: str) -> str | None:
        """The image's id on this host; None when the host does not have it. Keeps its config."""
        try:
            inspected = await self.docker("inspect_image", image)
        except docker.errors.ImageNotFound:
            return None
        self.image_configs[image] = inspected.get("Config") or {}
        return inspected["Id"]

    def pull_with_progress(self, image: str) -> None:
        last_reported = 0.0
        for progress in image_pulls.progress_lines(self.client, image):
            if time.monotonic() - last_reported > 1:
                self.report(7, f"Pulling {image}: {progress}")
                last_reported = time.monotonic()
