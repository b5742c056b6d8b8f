"""The one way into Docker: `client()`, and what the appliance asks of Docker through it.

Every Docker client of the appliance (spawners, reconcile, doctor, cli) comes from `client()`, so
that timeouts live here and a filtering proxy in front of the engine needs only DOCKER_HOST.
It also answers questions about the hub's own container and about which JupyterHub a user image has.
"""

import contextlib
import logging
import os
import socket

import docker
import requests

from appliance.broker.policy import BROKER_PROBE_NAME, REFUSED_BY
from appliance.labels import LABEL_INSTANCE, LABEL_SERVER
from appliance.layout import HUB_SERVICE_NAME

# Asks a user image which JupyterHub it has; run as the entrypoint of a throwaway container.
ASK_JUPYTERHUB_VERSION = ["python3", "-c", "import jupyterhub; print(jupyterhub.__version__)"]
ASK_SECONDS = 60
# How long one Docker API call may take before it fails: long enough for a busy engine's create or inspect.
CALL_SECONDS = 60
# On the path of a hub that cannot start, where a hung engine must not keep the error from the log.
ERROR_PATH_SECONDS = 5
# This process's own image, once known (own_image).
OWN_IMAGE: list[str] = []
# The states of a Swarm task that is over.
TASK_ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")
log = logging.getLogger(__name__)


def address() -> str:
    """Where `client()` connects: DOCKER_HOST, as Docker's own clients read it, or the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def client(timeout: int = CALL_SECONDS, connections: int = 10) -> docker.DockerClient:
    """A client of the engine at DOCKER_HOST (default: the mounted socket), API version negotiated;
    `connections` is the most it keeps open at once (docker-py's default is 10)."""
    return docker.DockerClient.from_env(timeout=timeout, max_pool_size=connections)


def behind_broker(engine: docker.DockerClient) -> bool:
    """Whether the endpoint is the appliance's broker: it refuses, naming itself, an archive read, which the
    appliance never asks for. An engine itself answers 404 for the container, which does not exist."""
    answer = engine.api.get(f"{engine.api.base_url}/containers/{BROKER_PROBE_NAME}/archive", params={"path": "/"})
    return answer.status_code == 403 and REFUSED_BY in answer.text


def refused_by_broker(error: docker.errors.APIError) -> bool:
    """Whether the broker refused the call (not the engine): an action on another appliance's object, say."""
    return error.status_code == 403 and REFUSED_BY in error_reason(error)


def error_reason(error: Exception) -> str:
    """Docker's own words for a failed call (an APIError's explanation), else the error as text."""
    return getattr(error, "explanation", None) or str(error)


def own_container(engine: docker.DockerClient):
    """The container this process runs in, found by its hostname (Docker's default: the short ID)."""
    try:
        return engine.containers.get(socket.gethostname())
    except docker.errors.NotFound:
        return None


class NotInAContainer(RuntimeError):
    """The hub cannot find its own container, whose image and networks it builds on."""


def required_own_container(engine: docker.DockerClient):
    """The container this process runs in; NotInAContainer when there is none."""
    me = own_container(engine)
    if me is None:
        raise NotInAContainer("the hub cannot find its own container (it looks itself up by its hostname)")
    return me


def own_image(engine: docker.DockerClient) -> str:
    """The id of the image this container runs: the image the appliance's helper containers use. Asked once per
    process (a container's image never changes), not again for every helper of every spawn."""
    if not OWN_IMAGE:
        OWN_IMAGE.append(required_own_container(engine).attrs["Image"])
    return OWN_IMAGE[0]


def stop_restarting_self() -> bool:
    """Turn off this container's restart policy, so that a config error ends its log instead of looping.

    Best effort: returns False where there is no Docker socket, no own container, or no policy to turn off.
    `docker compose up -d --force-recreate hub` after the fix recreates it with the compose file's policy.
    """
    try:
        container = own_container(client(ERROR_PATH_SECONDS))
        if container is None or container.attrs["HostConfig"]["RestartPolicy"]["Name"] in ("", "no"):
            return False
        container.update(restart_policy={"Name": "no"})
        return True
    except (docker.errors.DockerException, requests.RequestException):
        return False


def running_containers_sharing(engine: docker.DockerClient, path: str) -> list[str]:
    """Other running containers that mount the same volume or folder as this container has at path."""
    me = own_container(engine)
    if me is None:
        return []
    ours = [mount_key(m) for m in me.attrs["Mounts"] if m["Destination"] == path.rstrip("/")]
    if not ours:
        return []
    return [
        other.name
        for other in engine.containers.list()
        if other.id != me.id and any(mount_key(m) == ours[0] for m in other.attrs["Mounts"])
    ]


def mount_key(mount: dict) -> str:
    return mount.get("Name") or mount["Source"]


def helper_options(image: str, labels: dict[str, str]) -> dict:
    """A throwaway container of the appliance's own image, with no privilege it does not need (the broker requires
    the dropped capabilities, no-new-privileges and the pids limit)."""
    return {
        "image": image,
        "labels": labels,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/run": "rw,nosuid,nodev,size=1m"},
        "mem_limit": "64m",
        "pids_limit": 32,
    }


def probe_options(labels: dict[str, str]) -> dict:
    """A user-chosen image runs here before any user does: no network, no capability, no root, bounded."""
    return {
        "network_disabled": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": "65534:65534",
        "read_only": True,
        "environment": {"PYTHONDONTWRITEBYTECODE": "1"},
        "mem_limit": "256m",
        "pids_limit": 64,
        "labels": labels,
    }


@contextlib.contextmanager
def throwaway(engine: docker.DockerClient, **options):
    """A container created, then started, and removed whatever happens (one that cannot even start, too), with
    the anonymous volumes its image declares (the hub image's /data): otherwise each one stays on the host."""
    container = engine.containers.create(**options)
    try:
        container.start()
        yield container
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            container.remove(force=True, v=True)


def run_to_end(engine: docker.DockerClient, seconds: float, **options) -> tuple[int, str, str]:
    """Run a throwaway container to its end; return its exit status, stdout and stderr."""
    with throwaway(engine, **options) as container:
        status = container.wait(timeout=seconds)["StatusCode"]
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace").strip()
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace").strip()
        return status, stdout, stderr


def jupyterhub_version_in(engine: docker.DockerClient, image: str, labels: dict[str, str]) -> str | None:
    """The JupyterHub version in a user image, asked in a labelled throwaway container without network.

    None when the image cannot say (no python3, no jupyterhub, no answer within ASK_SECONDS).
    """
    try:
        status, output, _ = run_to_end(
            engine, ASK_SECONDS, image=image, entrypoint=ASK_JUPYTERHUB_VERSION, **probe_options(labels)
        )
    except (docker.errors.DockerException, requests.RequestException) as error:
        log.warning("Asking %s for its JupyterHub version failed: %s", image, error)
        return None
    return output if status == 0 and output else None


def join_networks_of_running_servers(engine: docker.DockerClient, instance: str, network: str) -> list[str]:
    """Attach the hub (as `hub`) to every other network that running servers of this instance are on.

    Servers started before DOCKER_NETWORK changed (an upgrade that names the network after the compose
    project) stay on their network; with the hub there too they keep working. Returns the networks joined.
    """
    me = own_container(engine)
    if me is None:
        return []
    filters = {"label": [f"{LABEL_INSTANCE}={instance}", LABEL_SERVER], "status": "running"}
    theirs = {
        name
        for server in engine.containers.list(filters=filters)
        for name in server.attrs["NetworkSettings"]["Networks"]
    }
    joined = sorted(theirs - {network} - set(me.attrs["NetworkSettings"]["Networks"]))
    for name in joined:
        engine.networks.get(name).connect(me, aliases=[HUB_SERVICE_NAME])
    return joined
