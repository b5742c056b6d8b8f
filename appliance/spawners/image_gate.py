"""The image gate of every spawn: the image is there (pulled with progress when it is not), and its
JupyterHub can work with the hub's, asked once per image."""

import asyncio
import time
from typing import ClassVar

import docker.errors
import jupyterhub

from appliance import docker_host, image_pulls
from appliance.images import jupyterhub_mismatch, looks_like_docker_stacks
from appliance.spawners.base import SpawnerMixinBase
from appliance.spawners.errors import CONFLICT, UNAVAILABLE, SpawnError

BUILD_HINT = (
    "An admin can build or pull it on the Docker host (the appliance's own user image: `docker compose build`)."
)


class ImageGate(SpawnerMixinBase):
    """A mixin for DockerSpawner: `pull_image` as its pull_policy says, with progress and reasons.

    Needs the spawner's `docker()`, `client`, `engine`, `pull_policy`, `report()` and `helper_labels()`.
    """

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
        """The image's id on this host; None when the host does not have it."""
        try:
            return (await self.docker("inspect_image", image))["Id"]
        except docker.errors.ImageNotFound:
            return None

    def pull_with_progress(self, image: str) -> None:
        last_reported = 0.0
        for progress in image_pulls.progress_lines(self.client, image):
            if time.monotonic() - last_reported > 1:
                self.report(7, f"Pulling {image}: {progress}")
                last_reported = time.monotonic()
