"""Reconcile Docker with the hub: containers that carry this appliance's labels but serve no server the hub knows.

Runs as a hub-managed service, once when the hub starts and then periodically. It asks the hub's
REST API which servers are active (running or starting) and lists the labelled containers (Swarm
services in swarm mode). Unknown ones are reported, and removed only with UNKNOWN_CONTAINERS=remove.
Volumes are never touched.
Servers whose containers vanished are JupyterHub's own business: it polls them and marks them stopped.
A Swarm task whose node went down is not: it stays "running" in Swarm, since no node can say otherwise,
so every LOST_TASK_SECONDS this service reports such lost tasks and stops their servers through the
hub's API, and the user can start again on another node.
This module also owns the service's command line: the hub config builds it with `command()`, and
`appliance reconcile` parses it with `add_arguments()`, both from the settings' own declarations.
"""

import argparse
import os
import sys
import time
from urllib.parse import quote

import docker
import docker.models.services
import requests

from appliance import docker_host
from appliance.declarations import Setting, Settings
from appliance.docker_host import TASK_ENDED
from appliance.kinds import Choice
from appliance.labels import LABEL_INSTANCE, LABEL_SERVER, LABEL_USER
from appliance.layout import HUB_PORT_INSIDE
from appliance.settings import BY_NAME

PAGE_SIZE = 200
RETRY_SECONDS = 10
EVERY_SECONDS = 300
LOST_TASK_SECONDS = 15  # Swarm itself takes about as long to mark a silent node down
STOP_SECONDS = 10  # as long as `docker stop` gives a server to save and exit
UNKNOWN_CONTAINERS = BY_NAME["UNKNOWN_CONTAINERS"]
SPAWNER_MODE = BY_NAME["SPAWNER_MODE"]


def choices_of(setting: Setting) -> tuple[str, ...]:
    return setting.kind.values if isinstance(setting.kind, Choice) else ()


def command(settings: Settings) -> list[str]:
    """The service's command: check at hub start, then every EVERY_SECONDS."""
    return [
        sys.executable,
        "-m",
        "appliance",
        "reconcile",
        f"--instance={settings['APPLIANCE_INSTANCE']}",
        f"--unknown-containers={settings['UNKNOWN_CONTAINERS']}",
        f"--spawner-mode={settings['SPAWNER_MODE']}",
        f"--every={EVERY_SECONDS}",
        # Loopback: it runs beside the hub, and in Swarm the hub's name resolves only once it is healthy.
        f"--api-url=http://127.0.0.1:{HUB_PORT_INSIDE}/hub/api",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instance", required=True, help="APPLIANCE_INSTANCE: whose labelled containers to check")
    parser.add_argument(
        "--unknown-containers", choices=choices_of(UNKNOWN_CONTAINERS), default=UNKNOWN_CONTAINERS.literal_default
    )
    parser.add_argument("--spawner-mode", choices=choices_of(SPAWNER_MODE), default=SPAWNER_MODE.literal_default)
    parser.add_argument("--every", type=int, default=EVERY_SECONDS, help="seconds between checks")
    parser.add_argument("--api-url", required=True, help="the hub's REST API, as this process reaches it")


def run(args: argparse.Namespace) -> int:
    services = args.spawner_mode == "swarm"
    return main(args.instance, args.unknown_containers == "remove", args.every, services, args.api_url)


def log(message: str) -> None:
    print(f"[appliance reconcile] {message}", flush=True)


def hub_session(token: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"Authorization": f"token {token}", "Accept": "application/jupyterhub-pagination+json"})
    return session


def active_servers(api_url: str, token: str) -> set[tuple[str, str]]:
    """(user, server name) of every active server, through the hub's paginated users API."""
    session = hub_session(token)
    active: set[tuple[str, str]] = set()
    offset = 0
    while True:
        response = session.get(
            f"{api_url}/users", params={"state": "active", "offset": str(offset), "limit": str(PAGE_SIZE)}, timeout=30
        )
        response.raise_for_status()
        page = response.json()
        for user in page["items"]:
            active.update((user["name"], server) for server in user.get("servers", {}))
        following = (page.get("_pagination") or {}).get("next")
        if not following:
            return active
        offset = following["offset"]


def stop_server(api_url: str, token: str, user: str, server: str) -> None:
    """Stop a server through the hub's API, as its user's Stop button would."""
    path = (
        f"/users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
        if server
        else f"/users/{quote(user, safe='')}/server"
    )
    hub_session(token).delete(f"{api_url}{path}", timeout=60).raise_for_status()


def server_objects(client: docker.DockerClient, instance: str, services: bool) -> list:
    """Every user-server container (or Swarm service) of this instance, running or not."""
    labels = {"label": [f"{LABEL_INSTANCE}={instance}", LABEL_SERVER]}
    return client.services.list(filters=labels) if services else client.containers.list(all=True, filters=labels)


def is_service(thing) -> bool:
    return isinstance(thing, docker.models.services.Service)


def served_server(thing) -> tuple[str, str]:
    labels = thing.attrs["Spec"].get("Labels", {}) if is_service(thing) else thing.labels
    return labels.get(LABEL_USER, ""), labels[LABEL_SERVER]


def remove(thing) -> None:
    if is_service(thing):
        thing.remove()
    else:
        thing.remove(force=True)


def stop_all(client: docker.DockerClient, instance: str, services: bool, report) -> int:
    """Stop and remove every user server of this instance (`appliance stop-servers`); volumes stay."""
    servers = server_objects(client, instance, services)
    for thing in servers:
        user, server = served_server(thing)
        report(f"Stopping {user}'s server {server or '(default)'}: {thing.name}")
        if not is_service(thing) and thing.status == "running":
            thing.stop(timeout=STOP_SECONDS)
        remove(thing)
    return len(servers)


def reconcile_once(
    client: docker.DockerClient, instance: str, remove_unknown: bool, api_url: str, token: str, services: bool = False
) -> int:
    # Containers first: a spawn whose container is listed already shows as active in the API afterwards.
    things = server_objects(client, instance, services)
    active = active_servers(api_url, token)
    unknown = [thing for thing in things if served_server(thing) not in active]
    kind = "Service" if services else "Container"
    for thing in unknown:
        user, server = served_server(thing)
        owner = f"user {user!r}, server {server!r}, {'service' if services else thing.status}"
        if remove_unknown:
            remove(thing)
            log(f"Removed {kind.lower()} {thing.name} ({owner}): the hub has no such server")
        else:
            log(
                f"{kind} {thing.name} ({owner}) carries this appliance's labels, but the hub has no such server. "
                "Left alone; UNKNOWN_CONTAINERS=remove removes such containers (never their volumes)."
            )
    log(f"Checked {len(active)} active server(s) against Docker: {len(unknown)} unknown container(s)")
    return len(unknown)


def lost_task(tasks: list[dict], down_nodes: dict[str, str]) -> tuple[str, str] | None:
    """(task id, node hostname) when a service's newest task has not ended but its node is down."""
    if not tasks:
        return None
    newest = max(tasks, key=lambda task: task["CreatedAt"])
    node = down_nodes.get(newest.get("NodeID", ""))
    if node is None or newest["Status"]["State"] in TASK_ENDED:
        return None
    return newest["ID"], node


def down_nodes(client: docker.DockerClient) -> dict[str, str]:
    """Node id: hostname of every node the managers have marked down."""
    return {
        node.id: node.attrs["Description"]["Hostname"]
        for node in client.nodes.list()
        if node.attrs["Status"]["State"] == "down"
    }


def stop_lost_servers(client: docker.DockerClient, instance: str, api_url: str, token: str) -> int:
    """Report each server whose task was on a node that went down, and stop it in the hub; volumes stay."""
    down = down_nodes(client)
    if not down:
        return 0
    active = active_servers(api_url, token)
    stopped = 0
    for service in server_objects(client, instance, services=True):
        lost = lost_task(service.tasks(), down)
        user, server = served_server(service)
        if lost is None or (user, server) not in active:
            continue
        task_id, node = lost
        log(
            f"Lost task {task_id} of service {service.name} (user {user!r}, server {server!r}): its node {node} is "
            "down. Stopping the server in the hub, so that the user can start it again on another node."
        )
        stop_server(api_url, token, user, server)
        stopped += 1
    return stopped


def main(instance: str, remove_unknown: bool, every: int, services: bool, api_url: str) -> int:
    """Reconcile now and every `every` seconds; after a failure (the hub still starting, say) again in 10 s.
    In swarm mode, look for lost tasks every LOST_TASK_SECONDS in between. The hub stops it with SIGINT
    when it shuts down."""
    try:
        return reconcile_forever(instance, remove_unknown, every, services, api_url)
    except KeyboardInterrupt:
        log("Stopped with the hub")
        return 0


def reconcile_forever(instance: str, remove_unknown: bool, every: int, services: bool, api_url: str) -> int:
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    client = docker_host.client()
    step = min(every, LOST_TASK_SECONDS) if services else every
    next_pass = time.monotonic()
    while True:
        try:
            if services:
                stop_lost_servers(client, instance, api_url, token)
            if time.monotonic() >= next_pass:
                reconcile_once(client, instance, remove_unknown, api_url, token, services)
                next_pass = time.monotonic() + every
            pause = step
        except (docker.errors.DockerException, requests.RequestException) as error:
            log(f"Could not reconcile this time, trying again in {RETRY_SECONDS} s: {error}")
            pause = min(every, RETRY_SECONDS)
        sys.stdout.flush()
        time.sleep(pause)  # the period between checks
