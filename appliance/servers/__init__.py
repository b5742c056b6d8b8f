"""Spawner modes, one module each: its settings, their problems, and its configure and doctor steps (an
`appliance.declarations.SpawnerMode`). The spawner classes they configure live in `appliance.spawners`, so that
reading the settings never imports dockerspawner.

Adding a mode: a module here declaring MODE, and one entry below.
"""

from appliance.servers import docker, swarm, system

SPAWNER_MODES = {mode.name: mode for mode in (docker.MODE, system.MODE, swarm.MODE)}
