"""What the spawners' mixins are written against. At run time each is a LoggingConfigurable that
ApplianceDockerSpawner combines with DockerSpawner; for the type checker each is a DockerSpawner, whose
attributes (user, docker(), report, …) the mixins use."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockerspawner import DockerSpawner as SpawnerMixinBase
else:
    from traitlets.config import LoggingConfigurable as SpawnerMixinBase

__all__ = ["SpawnerMixinBase"]
