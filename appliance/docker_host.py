"""What the appliance asks of Docker: about itself (its own container and that container's settings),
and which JupyterHub a user image has."""

import contextlib
import logging
import socket

import docker
import requests

# Asks a user image which JupyterHub it has; run as the entrypoint of a throwaway container.
ASK_JUPYTERHUB_VERSION = ["python3", "-c", "import jupyterhub; print(jupyterhub.__version__)"]
ASK_SECONDS = 60
log = logging.getLogger(__name__)


def own_container(client: docker.DockerClient):
    """The container this process runs in, found by its hostname (Docker's default: the short ID)."""
    try:
        return client.containers.get(socket.gethostname())
    except docker.errors.NotFound:
        return None


def stop_restarting_self() -> bool:
    """Turn off this container's restart policy, so that a config error ends its log instead of looping.

    Best effort: returns False where there is no Docker socket, no own container, or no policy to turn off.
    `docker compose up -d --force-recreate hub` after the fix recreates it with the compose file's policy.
    """
    try:
        client = docker.from_env(timeout=5)
        container = own_container(client)
        if container is None or container.attrs["HostConfig"]["RestartPolicy"]["Name"] in ("", "no"):
            return False
        container.update(restart_policy={"Name": "no"})
        return True
    except (docker.errors.DockerException, requests.RequestException):
        return False


def running_containers_sharing(client: docker.DockerClient, path: str) -> list[str]:
    """Other running containers that mount the same volume or folder as this container has at path."""
    me = own_container(client)
    if me is None:
        return []
    ours = [mount_key(m) for m in me.attrs["Mounts"] if m["Destination"] == path.rstrip("/")]
    if not ours:
        return []
    return [
        other.name
        for other in client.containers.list()
        if other.id != me.id and any(mount_key(m) == ours[0] for m in other.attrs["Mounts"])
    ]


def mount_key(mount: dict) -> str:
    return mount.get("Name") or mount["Source"]


def jupyterhub_version_in(client: docker.DockerClient, image: str, labels: dict[str, str]) -> str | None:
    """The JupyterHub version in a user image, asked in a labelled throwaway container without network.

    None when the image cannot say (no python3, no jupyterhub, no answer within ASK_SECONDS).
    """
    container = None
    try:
        container = client.containers.run(
            image, entrypoint=ASK_JUPYTERHUB_VERSION, network_disabled=True, labels=labels, detach=True
        )
        status = container.wait(timeout=ASK_SECONDS)["StatusCode"]
        output = container.logs(stdout=True, stderr=False).decode().strip()
    except (docker.errors.DockerException, requests.RequestException) as error:
        log.warning("Asking %s for its JupyterHub version failed: %s", image, error)
        return None
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                container.remove(force=True)
    return output if status == 0 and output else None
