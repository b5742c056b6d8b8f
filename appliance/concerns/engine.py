"""The Docker engine and the users' network: the engine answers, the hub is on the users' network (and on the old
ones of servers still running there), the user images are here, GPUs where profiles want them, the hub answers
from that network, and the network rules hold."""

import docker
import requests

from appliance import docker_host, image_pulls, profiles
from appliance.database import jupyterhub_version
from appliance.declarations import Outcome, Report, Settings, StartRefused, failed, passed, warned
from appliance.images import jupyterhub_mismatch, looks_like_docker_stacks
from appliance.labels import LABEL_INSTANCE
from appliance.layout import HUB_PORT_INSIDE, HUB_SERVICE_NAME
from appliance.network_rules import (
    ISOLATION_OFF_WARNING,
    NetworkRulesError,
    Policy,
    check_on_this_host,
    probe_rules,
)
from appliance.servers import SPAWNER_MODES
from appliance.settings import egress_allow_warning

NO_SOCKET_FIX = (
    "start the Docker broker (`docker compose up -d broker`), whose socket the hub mounts from the volume they "
    "share; it alone mounts /var/run/docker.sock"
)


def check_docker_socket(settings: Settings) -> Outcome:
    address = docker_host.address()
    try:
        version = docker_host.client().version()["Version"]
    except docker.errors.DockerException as error:
        if "Permission denied" in str(error):
            return failed(f"{address}: permission denied", "run the hub as root, or in the socket's group")
        if "No such file" in str(error):
            return failed(f"no socket at {address}", NO_SOCKET_FIX)
        return failed(f"{address} does not answer: {error}", "check that the Docker engine runs")
    return passed(f"{address} answers, Docker {version}")


def check_broker(settings: Settings) -> Outcome:
    """The hub's Docker endpoint is the broker (a request outside its policy is refused), or DOCKER_BROKER=off."""
    address = docker_host.address()
    if settings["DOCKER_BROKER"] == "off":
        return warned(
            f"DOCKER_BROKER=off: the hub uses {address} unchecked; if that is the engine's own socket, whoever "
            "controls the hub is root on the host",
            "use the compose files' broker, and set DOCKER_BROKER=on",
        )
    try:
        behind = docker_host.behind_broker(docker_host.client())
    except (docker.errors.DockerException, requests.RequestException) as error:
        return failed(f"{address} could not be asked: {error}", NO_SOCKET_FIX)
    if not behind:
        return failed(
            f"{address} is not the appliance's Docker broker (it did not refuse a request outside the broker's "
            "policy): the hub has the engine's full power, which is root on the host",
            "start the hub with this release's compose files (`docker compose up -d`), which put the broker between "
            "the hub and Docker; or set DOCKER_BROKER=off to run without it, knowing that",
        )
    return passed(f"{address} is the appliance's Docker broker: it refused a request outside its policy")


def require_broker(settings: Settings, say: Report) -> None:
    """Fail closed: with DOCKER_BROKER=on, the hub starts only behind the broker; off, it says so at every start."""
    outcome = check_broker(settings)
    if outcome.warning:
        say(f"WARNING: {outcome.detail}. To close this: {outcome.fix}.")
    elif not outcome.ok:
        raise StartRefused(f"DOCKER_BROKER=on, but {outcome.detail}. Fix: {outcome.fix}.")


def check_network(settings: Settings) -> Outcome:
    name = settings["DOCKER_NETWORK"]
    client = docker_host.client()
    try:
        client.networks.get(name)
    except docker.errors.NotFound:
        return failed(f"network {name} does not exist", "`docker compose up -d` creates it")
    hub = docker_host.own_container(client)
    if hub is None:
        return failed("cannot find the hub's own container", "run the doctor inside the hub container")
    if name not in hub.attrs["NetworkSettings"]["Networks"]:
        return failed(
            f"the hub is not attached to {name}",
            f"docker network connect --alias {HUB_SERVICE_NAME} {name} {hub.name}",
        )
    return passed(f"{name} exists and the hub is attached")


def join_networks_of_running_servers(settings: Settings, say: Report) -> None:
    """Servers still on a network from before DOCKER_NETWORK changed keep working: the hub joins it too."""
    if SPAWNER_MODES[settings["SPAWNER_MODE"]].many_nodes:
        return
    try:
        engine = docker_host.client()
        joined = docker_host.join_networks_of_running_servers(
            engine, settings["APPLIANCE_INSTANCE"], settings["DOCKER_NETWORK"]
        )
    except docker.errors.DockerException as error:
        say(f"Could not check which networks running user servers are on: {error}")
        return
    for network in joined:
        say(
            f"User servers started before DOCKER_NETWORK={settings['DOCKER_NETWORK']} run on the network {network}; "
            f"the hub joined it too, so they keep working. New servers start on {settings['DOCKER_NETWORK']}; remove "
            f"{network} (`docker network rm {network}`) once those servers have stopped."
        )


def check_hub_api_from_user_network(settings: Settings) -> Outcome:
    """The classic failure: a user container cannot reach the hub. Probe it from a throwaway one."""
    url = f"http://{HUB_SERVICE_NAME}:{HUB_PORT_INSIDE}/hub/api"
    probe = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).status)"
    try:
        options = {**docker_host.probe_options(instance_labels(settings)), "network_disabled": False}
        output = docker_host.client().containers.run(
            settings["SINGLEUSER_IMAGE"],
            entrypoint=["python3", "-c", probe],
            network=settings["DOCKER_NETWORK"],
            remove=True,
            stderr=True,
            **options,
        )
    except docker.errors.ContainerError as error:
        last_line = error.stderr.decode(errors="replace").strip().splitlines()[-1:] if error.stderr else []
        return failed(
            f"{url} is unreachable from {settings['DOCKER_NETWORK']}: {' '.join(last_line)}",
            f"attach the hub to {settings['DOCKER_NETWORK']} under the name {HUB_SERVICE_NAME} (see the network check)",
        )
    except docker.errors.DockerException as error:
        return failed(f"could not run a probe container: {error}", "fix the checks above first")
    return passed(f"{url} answers HTTP {output.decode().strip()} from a container on {settings['DOCKER_NETWORK']}")


def check_images(settings: Settings) -> Outcome:
    """Each user image is here, being pulled ahead (with its progress) or pullable, and those here have a
    JupyterHub that works with the hub's; a pull ahead that failed is named with its reason."""
    client = docker_host.client()
    images = profiles.images_in_use(settings)
    pulls = image_pulls.read_states()
    missing, pulling, found, configs = [], [], {}, {}
    for image in images:
        try:
            configs[image] = client.images.get(image).attrs["Config"]
        except docker.errors.ImageNotFound:
            state = pulls.get(image)
            if state is not None and state.pulling:
                pulling.append(state)
            elif not pullable(client, image):
                missing.append(state.shown() if state is not None else image)
            continue
        found[image] = docker_host.jupyterhub_version_in(
            client, image, {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}
        )
    still_pulling = f"still pulling: {', '.join(p.shown() for p in pulling)}" if pulling else ""
    if missing:
        return failed(
            "; ".join(filter(None, [f"not on this host and not pullable: {', '.join(missing)}", still_pulling])),
            "build or pull them on the Docker host (the appliance's own user image: `docker compose build`)",
        )
    mismatches = [
        jupyterhub_mismatch(image, version, jupyterhub_version(), looks_like_docker_stacks(configs[image]))
        for image, version in found.items()
    ]
    if any(mismatches):
        return failed(" ".join(filter(None, mismatches)), "use user images with the hub's JupyterHub major version")
    described = [f"{image} (JupyterHub {found[image] or 'unknown'})" for image in found]
    described += [image for image in images if image not in found and image not in {p.image for p in pulling}]
    if pulling:
        return warned(
            f"present: {', '.join(described) or 'none'}; {still_pulling}",
            "spawns of these images wait for their pull; nothing to do unless it stalls",
        )
    return passed(f"present or pullable: {', '.join(described)}")


def pullable(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get_registry_data(image)
    except docker.errors.APIError:
        return False
    return True


def check_gpus(settings: Settings) -> Outcome:
    """When a profile asks for GPUs, the engine can give them: the NVIDIA runtime, or CDI devices it discovered."""
    wanting = [profile.name for profile in profiles.in_use(settings) if profile.gpus is not None]
    if not wanting:
        return passed("no profile asks for GPUs")
    info = docker_host.client().info()
    runtimes = sorted(info.get("Runtimes") or {})
    devices = [device.get("ID", "?") for device in info.get("DiscoveredDevices") or ()]
    if "nvidia" in runtimes or devices:
        found = f"runtimes {', '.join(runtimes)}" + (f"; CDI devices {', '.join(devices)}" if devices else "")
        return passed(f"profiles {', '.join(wanting)} ask for GPUs; the engine has {found}")
    return failed(
        f"profiles {', '.join(wanting)} ask for GPUs, but the engine has no GPU runtime (runtimes: "
        f"{', '.join(runtimes) or 'none'}) and no CDI devices",
        "install the NVIDIA Container Toolkit on the Docker host "
        "(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), run "
        "`sudo nvidia-ctk runtime configure --runtime=docker` and restart Docker; or remove gpus from those profiles",
    )


def check_network_isolation(settings: Settings, say: Report) -> None:
    """Fail closed: with isolation on, the hub starts only where the rules can be applied; off, it says so."""
    if settings["USER_NETWORK_ISOLATION"] == "off":
        say(ISOLATION_OFF_WARNING)
        return
    check_on_this_host(settings["APPLIANCE_INSTANCE"])
    say("User servers get network rules (USER_NETWORK_ISOLATION=on): checked that this host can apply them.")
    if warning := egress_allow_warning(settings):
        say(warning)


def check_network_rules(settings: Settings) -> Outcome:
    """Isolation is on, and holds for real: from a probe under a user server's rules, only the hub's API answers."""
    if settings["USER_NETWORK_ISOLATION"] == "off":
        where = " (swarm mode cannot enforce it)" if settings["SPAWNER_MODE"] == "swarm" else ""
        return warned(
            f"USER_NETWORK_ISOLATION=off{where}: user servers can reach each other, every port of the hub, "
            "the Docker host and the cloud metadata address",
            "set USER_NETWORK_ISOLATION=on in docker or system mode",
        )
    policy = Policy(settings["USER_EGRESS"], settings["USER_EGRESS_ALLOW"] or ())
    engine = docker_host.client()
    try:
        reached = probe_rules(
            engine, docker_host.own_container(engine), settings["DOCKER_NETWORK"], policy, instance_labels(settings)
        )
    except NetworkRulesError as error:
        return failed(f"the rules could not be tried: {error}", "restart the hub: it checks them at start and says why")
    if not reached.canary_listens:
        return failed(f"the canary container never listened, so nothing was proven ({reached})", "run it again")
    if not reached.holds:
        return failed(str(reached), "restart the hub, then run the doctor again; report it if this stays")
    return passed(f"from a probe under a user server's rules (USER_EGRESS={settings['USER_EGRESS']}): {reached}")


def instance_labels(settings: Settings) -> dict[str, str]:
    return {LABEL_INSTANCE: settings["APPLIANCE_INSTANCE"]}
