"""The spawner classes the appliance uses: dockerspawner's, plus labels on all that they create."""

import docker.errors
from dockerspawner import DockerSpawner
from traitlets import Unicode, default

LABEL_PREFIX = "jupyterhub-appliance"
LABEL_INSTANCE = f"{LABEL_PREFIX}.instance"
LABEL_USER = f"{LABEL_PREFIX}.user"
LABEL_SERVER = f"{LABEL_PREFIX}.server"


class ApplianceDockerSpawner(DockerSpawner):
    """DockerSpawner whose containers and named volumes carry the appliance's labels.

    Labels name the appliance instance, the user and the server, so that tools and tests
    can find everything the hub created. Named volumes are created with the labels before
    the container, since Docker would otherwise create them unlabelled.
    """

    appliance_instance = Unicode(
        "jupyterhub-appliance",
        config=True,
        help="Name of this appliance, written to the instance label of every container and volume.",
    )

    def user_labels(self) -> dict[str, str]:
        return {LABEL_INSTANCE: self.appliance_instance, LABEL_USER: self.user.name}

    @default("extra_create_kwargs")
    def _labels_on_containers(self):
        return {"labels": {**self.user_labels(), LABEL_SERVER: self.name}}

    async def create_object(self):
        for source in self.volume_binds:
            if not source.startswith("/"):
                await self.ensure_labelled_volume(source)
        return await super().create_object()

    async def ensure_labelled_volume(self, name: str) -> None:
        try:
            await self.docker("inspect_volume", name)
        except docker.errors.NotFound:
            self.log.info("Creating volume %s for %s", name, self.user.name)
            await self.docker("create_volume", name=name, labels=self.user_labels())
