"""The appliance's spawners, one module per SPAWNER_MODE; configs name them as appliance.spawners.<Class>."""

from appliance.spawners.docker import ApplianceDockerSpawner
from appliance.spawners.errors import SpawnError, SpawnRefused
from appliance.spawners.swarm import ApplianceSwarmSpawner
from appliance.spawners.system_user import ApplianceSystemUserSpawner

__all__ = [
    "ApplianceDockerSpawner",
    "ApplianceSwarmSpawner",
    "ApplianceSystemUserSpawner",
    "SpawnError",
    "SpawnRefused",
]
