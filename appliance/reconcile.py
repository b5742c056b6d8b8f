"""Reconcile Docker with the hub: containers that carry this appliance's labels but serve no server the hub knows.

Runs as a hub-managed service, once when the hub starts and then periodically. It asks the hub's
REST API which servers are active (running or starting) and lists the labelled containers. Unknown
ones are reported, and removed only with UNKNOWN_CONTAINERS=remove. Volumes are never touched.
Servers whose containers vanished are JupyterHub's own business: it polls them and marks them stopped.
"""

import os
import sys
import time

import docker
import requests

from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER

PAGE_SIZE = 200


def log(message: str) -> None:
    print(f"[appliance reconcile] {message}", flush=True)


def active_servers(api_url: str, token: str) -> set[tuple[str, str]]:
    """(user, server name) of every active server, through the hub's paginated users API."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"Authorization": f"token {token}", "Accept": "application/jupyterhub-pagination+json"})
    active, offset = set(), 0
    while True:
        response = session.get(
            f"{api_url}/users", params={"state": "active", "offset": offset, "limit": PAGE_SIZE}, timeout=30
        )
        response.raise_for_status()
        page = response.json()
        for user in page["items"]:
            active.update((user["name"], server) for server in user.get("servers", {}))
        following = (page.get("_pagination") or {}).get("next")
        if not following:
            return active
        offset = following["offset"]


def server_containers(client: docker.DockerClient, instance: str) -> list:
    """Every user-server container of this instance, running or not."""
    return client.containers.list(all=True, filters={"label": [f"{LABEL_INSTANCE}={instance}", LABEL_SERVER]})


def served_server(container) -> tuple[str, str]:
    return container.labels.get(LABEL_USER, ""), container.labels[LABEL_SERVER]


def reconcile_once(client: docker.DockerClient, instance: str, remove: bool, api_url: str, token: str) -> int:
    # Containers first: a spawn whose container is listed already shows as active in the API afterwards.
    containers = server_containers(client, instance)
    active = active_servers(api_url, token)
    unknown = [container for container in containers if served_server(container) not in active]
    for container in unknown:
        owner = f"user {container.labels.get(LABEL_USER)!r}, server {container.labels[LABEL_SERVER]!r}"
        if remove:
            container.remove(force=True)
            log(f"Removed container {container.name} ({owner}, {container.status}): the hub has no such server")
        else:
            log(
                f"Container {container.name} ({owner}, {container.status}) carries this appliance's labels, but the "
                "hub has no such server. Left alone; UNKNOWN_CONTAINERS=remove removes such containers "
                "(never their volumes)."
            )
    log(f"Checked {len(active)} active server(s) against Docker: {len(unknown)} unknown container(s)")
    return len(unknown)


def main(instance: str, remove: bool, every: int) -> int:
    api_url, token = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
    client = docker.from_env()
    while True:
        try:
            reconcile_once(client, instance, remove, api_url, token)
        except (docker.errors.DockerException, requests.RequestException) as error:
            log(f"Could not reconcile this time: {error}")
        sys.stdout.flush()
        time.sleep(every)  # the period between passes
