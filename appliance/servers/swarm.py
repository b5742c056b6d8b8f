"""Swarm mode: each server is a Swarm service on an attachable overlay network, placed on the nodes
SWARM_PLACEMENT admits, its files on a volume driver or in SWARM_HOMES so that they follow it between nodes."""

import re

from traitlets.config import Config

from appliance.declarations import Outcome, Problem, Setting, Settings, SpawnerMode, failed, passed, present
from appliance.kinds import DOCKER_NAME, ByteSize, Choice, NameList, PositiveNumber, Text, byte_count
from appliance.servers.docker import configure_user_volumes, deleted_user_data_problems, hardened_host_config
from appliance.storage.quotas import quota_homes

# A Swarm service's name: letters, digits and '-' (a DNS label); each user's is jupyter-INSTANCE-USER.
SERVICE_NAME_PART = r"[A-Za-z0-9-]+"

SETTINGS = (
    Setting(
        "SWARM_PLACEMENT",
        "Swarm mode: placement constraints of user servers, such as node.labels.jupyter==true; unset means any node.",
        NameList("comma-separated constraints like node.labels.jupyter==true", r"[\w.\-]+\s*(==|!=)\s*\S+"),
    ),
    Setting(
        "SWARM_OVERLAY",
        "Swarm mode: the overlay network between nodes is `encrypted` (IPsec, Docker's `encrypted` option) or "
        "`plain`, where IPsec cannot pass between the nodes; compose/swarm.yml reads it when the stack is deployed.",
        Choice(("encrypted", "plain")),
        default="encrypted",
    ),
    Setting(
        "MEM_RESERVATION",
        "Swarm mode: memory reserved for each user server; Swarm places it only on a node with that much free.",
        ByteSize(),
    ),
    Setting(
        "CPU_RESERVATION",
        "Swarm mode: CPU cores reserved for each user server when Swarm places it.",
        PositiveNumber(),
    ),
    Setting(
        "VOLUME_DRIVER",
        "Swarm mode: Docker volume driver for user volumes, so that files follow users across nodes (an NFS "
        "driver, say); unset means local volumes, which live on one node only.",
        Text(DOCKER_NAME, describe="a Docker volume driver name"),
    ),
    Setting(
        "VOLUME_DRIVER_OPTIONS",
        "Swarm mode: options of VOLUME_DRIVER, as space-separated key=value pairs (values may hold commas).",
        NameList("space-separated key=value pairs", r"[\w.\-]+=\S*", separator=" "),
    ),
    Setting(
        "SWARM_HOMES",
        "Swarm mode: a folder that every node mounts, at this same path, from one shared storage (an NFS export "
        "in each node's /etc/fstab, say). Each user volume is then a folder in it, so files follow users from node "
        "to node; the hub creates the folders, and is deployed with compose/swarm-homes.yml to see them.",
        Text(r"/\S*", describe="an absolute path"),
    ),
)


def problems(values: Settings) -> list[Problem]:
    found = []
    if values["READ_ONLY_ROOTFS"]:
        found.append(
            Problem(
                "READ_ONLY_ROOTFS", "true", "is not available in swarm mode", "unset it, or use SPAWNER_MODE=docker"
            )
        )
    if values["USER_NETWORK_ISOLATION"] == "on":
        # Fail closed: the admin turns it off explicitly where it cannot be enforced.
        found.append(
            Problem(
                "USER_NETWORK_ISOLATION",
                "'on'",
                "cannot be enforced in swarm mode: the rules are applied on the Docker host that runs each server, "
                "and the hub reaches only its own node",
                "set USER_NETWORK_ISOLATION=off to run without it (see docs/security.md), or use SPAWNER_MODE=docker",
            )
        )
    if values["VOLUME_DRIVER_OPTIONS"] and not values["VOLUME_DRIVER"]:
        found.append(
            Problem("VOLUME_DRIVER_OPTIONS", "(set)", "needs VOLUME_DRIVER", "set VOLUME_DRIVER, or unset the options")
        )
    if values["CONTAINER_NAMES"] != "legacy" and not re.fullmatch(SERVICE_NAME_PART, values["APPLIANCE_INSTANCE"]):
        found.append(
            Problem(
                "APPLIANCE_INSTANCE",
                repr(values["APPLIANCE_INSTANCE"]),
                "names each user's Swarm service (jupyter-INSTANCE-USER), and a service name may hold only letters, "
                "digits and '-'",
                "set APPLIANCE_INSTANCE to such a name (the stack's name, say, without '_' or '.')",
            )
        )
    if values["SWARM_HOMES"] and values["VOLUME_DRIVER"]:
        found.append(
            Problem(
                "SWARM_HOMES", "(set)", "cannot be used with VOLUME_DRIVER", "set one of SWARM_HOMES and VOLUME_DRIVER"
            )
        )
    return found + deleted_user_data_problems(values, "swarm")


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.spawner_class = "appliance.spawners.ApplianceSwarmSpawner"
    c.SwarmSpawner.extra_placement_spec = {"constraints": list(settings["SWARM_PLACEMENT"] or [])}
    configure_user_volumes(settings, c)
    c.SwarmSpawner.volume_driver = settings["VOLUME_DRIVER"] or ""
    c.SwarmSpawner.volume_driver_options = volume_driver_options(settings)
    c.ApplianceSwarmSpawner.homes_root = settings["SWARM_HOMES"] or ""
    if quota_homes(settings):
        c.ApplianceSwarmSpawner.user_storage_dir = settings["SWARM_HOMES"]
        c.ApplianceSwarmSpawner.disk_quota = byte_count(present(settings["USER_DISK_QUOTA"]))
    # dnsrr: a server's name resolves to its task, with no virtual IP (which needs IPVS).
    c.SwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
    configure_limits(settings, c)


def volume_driver_options(settings: Settings) -> dict[str, str]:
    """VOLUME_DRIVER_OPTIONS (KEY=VALUE entries) as the driver gets them."""
    return dict(option.split("=", 1) for option in settings["VOLUME_DRIVER_OPTIONS"] or ())


def configure_limits(settings: Settings, c: Config) -> None:
    c.DockerSpawner.extra_host_config = hardened_host_config(settings)
    # Swarm places a server only on a node with this much free.
    c.Spawner.mem_guarantee = settings["MEM_RESERVATION"]
    c.Spawner.cpu_guarantee = settings["CPU_RESERVATION"]
    # A service spec (API 1.41) takes capabilities and a pids limit; no-new-privileges only from API 1.44.
    c.SwarmSpawner.extra_container_spec = {"cap_drop": ["ALL"]}
    c.ApplianceSwarmSpawner.pids_limit = settings["PIDS_LIMIT"]


def diagnose(_settings: Settings) -> Outcome:
    """The hub's engine is a manager of an active swarm, where services can be created."""
    from appliance import docker_host  # docker-py: only the doctor asks the engine from here

    swarm = docker_host.client().info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        return failed(
            f"this engine is in no swarm (state {swarm.get('LocalNodeState') or 'unknown'})",
            "`docker swarm init` on this host, then deploy with `docker stack deploy` (docs/swarm.md)",
        )
    if not swarm.get("ControlAvailable"):
        return failed("this engine is a swarm worker; the hub must run on a manager", "place the hub on a manager")
    return passed(f"a manager of a swarm of {swarm.get('Nodes', '?')} node(s), {swarm.get('Managers', '?')} manager(s)")


MODE = SpawnerMode("swarm", "Swarm", configure, diagnose, SETTINGS, problems, family="SWARM_", many_nodes=True)
