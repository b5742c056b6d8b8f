"""`appliance stop-servers`: every user server of this hub stopped and removed; their volumes stay."""

import docker.errors

from appliance import docker_host, reconcile
from appliance.commands.common import loaded_or_exit, say
from appliance.labels import LABEL_INSTANCE
from appliance.servers import SPAWNER_MODES

HELP = "stop and remove every user server of this hub (their volumes stay)"


def stop_servers_command(_args) -> int:
    settings = loaded_or_exit()
    instance = settings["APPLIANCE_INSTANCE"]
    try:
        services = SPAWNER_MODES[settings["SPAWNER_MODE"]].many_nodes
        stopped = reconcile.stop_all(docker_host.client(), instance, services, report=say)
    except docker.errors.DockerException as error:
        say(f"Stopping the user servers failed: {error}")
        return 1
    volumes = f"docker volume ls --filter label={LABEL_INSTANCE}={instance}"
    say(f"Stopped {stopped} user server(s). Their volumes stay: `{volumes}` lists them.")
    return 0
