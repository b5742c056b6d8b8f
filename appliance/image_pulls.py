"""Images pulled ahead of time: at hub start, every image a user can get that this host lacks.

A hub-managed service (`appliance pull-ahead IMAGE…`) pulls them one at a time, with progress in the
hub's log, and keeps each pull's state in STATE_FILE. A spawn that needs an image being pulled reads it
and waits for that pull, showing its progress, rather than starting another; `appliance doctor` reads it
to say which images are pulling and why a pull failed. In swarm mode it then pulls them on every node
where user servers may run (appliance.swarm_pulls); only the manager's pulls are in STATE_FILE.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from appliance import docker_host, swarm_pulls

STATE_FILE = "/run/appliance/image-pulls.json"
# A pull whose state has not changed for this long is taken as dead (its service stopped).
FRESH_SECONDS = 60
STATE_EVERY_SECONDS = 1
LOG_EVERY_SECONDS = 5
PULL_SECONDS = 3600
RECHECK_SECONDS = 600


@dataclass(frozen=True)
class PullState:
    image: str
    state: str  # pulling, pulled or failed
    progress: str = ""
    error: str = ""
    updated: float = 0.0

    @property
    def pulling(self) -> bool:
        return self.state == "pulling" and time.time() - self.updated < FRESH_SECONDS

    def shown(self) -> str:
        if self.pulling:
            return f"{self.image} (pulling since the hub started: {self.progress or 'starting'})"
        if self.state == "failed":
            return f"{self.image} (pulling it at hub start failed: {self.error})"
        return self.image


def read_states(path: str = STATE_FILE) -> dict[str, PullState]:
    try:
        return {image: PullState(**state) for image, state in json.loads(Path(path).read_text()).items()}
    except (OSError, ValueError, TypeError):
        return {}


def write_state(state: PullState, path: str = STATE_FILE) -> None:
    """Record one image's state; the file is replaced whole, so that readers never see half of it."""
    states = {image: asdict(known) for image, known in read_states(path).items()}
    states[state.image] = asdict(state)
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False) as file:
        json.dump(states, file)
    os.replace(file.name, path)


def progress_lines(api: docker.APIClient, image: str) -> Iterator[str]:
    """Docker's pull of an image (tag or digest), as lines such as `Downloading 3.1MB/16.01MB`; raises APIError."""
    for line in api.pull(image, stream=True, decode=True):
        if "error" in line:
            raise docker.errors.APIError(line["error"], explanation=line["error"])
        if line.get("progress"):
            yield f"{line.get('status', '')} {line['progress']}"


def pull_ahead(engine: docker.DockerClient, images: list[str], path: str, log: Callable[[str], None]) -> None:
    """Pull each image this host lacks, one after the other, recording and logging each one's progress."""
    missing = [image for image in dict.fromkeys(images) if not present(engine, image)]
    if missing:
        log(f"Pulling ahead of the first spawn: {', '.join(missing)}")
    for image in missing:
        pull_one(engine.api, image, path, log)


def present(engine: docker.DockerClient, image: str) -> bool:
    try:
        engine.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def pull_one(api: docker.APIClient, image: str, path: str, log: Callable[[str], None]) -> None:
    write_state(PullState(image, "pulling", updated=time.time()), path)
    started = last_state = last_log = time.monotonic()
    try:
        for progress in progress_lines(api, image):
            now = time.monotonic()
            if now - last_state >= STATE_EVERY_SECONDS:
                write_state(PullState(image, "pulling", progress, updated=time.time()), path)
                last_state = now
            if now - last_log >= LOG_EVERY_SECONDS:
                log(f"Pulling {image}: {progress}")
                last_log = now
    except (docker.errors.APIError, requests.RequestException) as error:
        reason = docker_host.error_reason(error)
        write_state(PullState(image, "failed", error=reason, updated=time.time()), path)
        retry = f"Spawns of it try again, and so does this service in {RECHECK_SECONDS // 60} minutes."
        log(f"Pulling {image} failed: {reason}. {retry}")
        return
    write_state(PullState(image, "pulled", updated=time.time()), path)
    log(f"Pulled {image} in {time.monotonic() - started:.0f} s")


def command(images: list[str], swarm_instance: str = "", swarm_constraints: tuple[str, ...] = ()) -> list[str]:
    swarm = [f"--swarm-instance={swarm_instance}"] if swarm_instance else []
    swarm += [f"--swarm-constraint={constraint}" for constraint in swarm_constraints]
    return [sys.executable, "-m", "appliance", "pull-ahead", *swarm, *images]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", help="the images users can get")
    parser.add_argument("--swarm-instance", default="", help="swarm mode: APPLIANCE_INSTANCE, whose nodes to pull on")
    parser.add_argument(
        "--swarm-constraint", action="append", default=[], help="swarm mode: SWARM_PLACEMENT, one constraint each"
    )


def log(message: str) -> None:
    print(f"[appliance pull-ahead] {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Pull at start, then again every RECHECK_SECONDS for what is still missing (a pull that failed, an image
    removed since; in swarm mode, on the nodes, whenever one joined or a pull there failed). It never ends by
    itself (the hub restarts a managed service that does, at once); the hub stops it with SIGINT."""
    engine = docker_host.client(timeout=PULL_SECONDS)
    pulled_on_nodes: frozenset[str] = frozenset()
    try:
        while True:
            pull_ahead(engine, args.images, STATE_FILE, log)
            if args.swarm_instance:
                pulled_on_nodes = swarm_pulls.pull_on_new_nodes(
                    engine, args.images, args.swarm_constraint, args.swarm_instance, log, pulled_on_nodes
                )
            time.sleep(RECHECK_SECONDS)
    except KeyboardInterrupt:
        log("Stopped with the hub")
        return 0
