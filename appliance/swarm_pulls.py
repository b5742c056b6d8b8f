"""Swarm mode: the images users can get, pulled ahead on every node where their servers may run.

The hub reaches the manager's engine only, and only a node's own engine pulls onto it. So, for each image,
a global job: a service that runs one task on every node its constraints (SWARM_PLACEMENT) admit, `true` in
that image; each node pulls the image to run it. Each task then says whether its node has the image
(complete, or failed: the image ran) or why not (rejected, with Docker's error). The job is removed once
every task has ended. Swarm creates a job's tasks with the service; none means no node is eligible.
"""

import hashlib
import time
from collections.abc import Callable

import docker
import docker.errors
import requests
from docker.types import RestartPolicy, ServiceMode

from appliance.docker_host import TASK_ENDED, error_reason
from appliance.labels import LABEL_INSTANCE, LABEL_PULL_AHEAD

POLL_SECONDS = 2
LOG_EVERY_SECONDS = 5
# Swarm creates a job's tasks at once; if none are there by then, no node is eligible.
FIRST_TASKS_SECONDS = 30
JOB_SECONDS = 3600
# A task that ended in these states ran the image: its node has it.
RAN = ("complete", "failed")

Outcomes = dict[str, str]  # node hostname: "" when it has the image, else why not


def pull_on_new_nodes(
    engine: docker.DockerClient,
    images: list[str],
    constraints: list[str],
    instance: str,
    log: Callable[[str], None],
    pulled_on: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """Pull on the nodes when some joined the swarm since `pulled_on` (the node ids of the last pass where every
    pull worked); return the node ids to pass next time."""
    try:
        nodes = frozenset(node.id for node in engine.nodes.list())
        if nodes <= pulled_on:
            return pulled_on
        remove_leftover_jobs(engine, instance)
    except (docker.errors.APIError, requests.RequestException) as error:
        log(f"Pulling on the nodes failed: {error_reason(error)}. It is tried again later.")
        return pulled_on
    return nodes if pull_on_nodes(engine, images, constraints, instance, log) else pulled_on


def pull_on_nodes(
    engine: docker.DockerClient, images: list[str], constraints: list[str], instance: str, log: Callable[[str], None]
) -> bool:
    """Pull each image on every node the constraints admit, one image after the other, logging each outcome;
    True when every node has every image."""
    everywhere = True
    for image in dict.fromkeys(images):
        try:
            outcomes = pull_everywhere(engine, image, constraints, instance, log)
        except (docker.errors.APIError, requests.RequestException) as error:
            log(f"Pulling {image} on the nodes failed: {error_reason(error)}. It is tried again later.")
            everywhere = False
            continue
        report(image, constraints, outcomes, log)
        everywhere = everywhere and not any(outcomes.values())
    return everywhere


def remove_leftover_jobs(engine: docker.DockerClient, instance: str) -> None:
    """Jobs of an earlier pull-ahead of this instance that stopped before removing them."""
    labels = [f"{LABEL_INSTANCE}={instance}", LABEL_PULL_AHEAD]
    for service in engine.services.list(filters={"label": labels}):
        service.remove()


def job_name(instance: str, image: str) -> str:
    return f"{instance}-pull-ahead-{hashlib.sha256(image.encode()).hexdigest()[:12]}"


def pull_everywhere(
    engine: docker.DockerClient, image: str, constraints: list[str], instance: str, log: Callable[[str], None]
) -> Outcomes:
    job = engine.services.create(
        image,
        command=["true"],
        name=job_name(instance, image),
        mode=ServiceMode("global-job"),
        constraints=constraints,
        restart_policy=RestartPolicy("none"),
        labels={LABEL_INSTANCE: instance, LABEL_PULL_AHEAD: image},
    )
    try:
        return wait_for_job(engine, job, image, log)
    finally:
        job.remove()


def wait_for_job(engine: docker.DockerClient, job, image: str, log: Callable[[str], None]) -> Outcomes:
    """Each node's outcome once every task has ended (or JOB_SECONDS have passed), with progress meanwhile."""
    started = last_log = time.monotonic()
    hostnames = {node.id: node.attrs["Description"]["Hostname"] for node in engine.nodes.list()}
    while True:
        tasks = job.tasks()
        states = {hostnames.get(task.get("NodeID"), "a new node"): task["Status"] for task in tasks}
        waited = time.monotonic() - started
        if tasks and all(status["State"] in TASK_ENDED for status in states.values()):
            return {host: outcome(status) for host, status in states.items()}
        if not tasks and waited > FIRST_TASKS_SECONDS:
            return {}
        if waited > JOB_SECONDS:
            return {host: outcome(status) for host, status in states.items()}
        if tasks and time.monotonic() - last_log >= LOG_EVERY_SECONDS:
            log(f"Pulling {image} on {len(tasks)} nodes: {progress(states)}")
            last_log = time.monotonic()
        time.sleep(POLL_SECONDS)


def progress(states: dict[str, dict]) -> str:
    """Such as `worker1 pulling, worker2 done`: Swarm prepares a task (pulls its image) in `preparing`."""
    shown = {"preparing": "pulling", "complete": "done"}
    return ", ".join(f"{host} {shown.get(status['State'], status['State'])}" for host, status in sorted(states.items()))


def outcome(status: dict) -> str:
    """Empty when the task ran the image, else why it did not (Swarm's error, or that it never got done)."""
    if status["State"] in RAN:
        return ""
    if status["State"] not in TASK_ENDED:
        return f"still {status['State']} after {JOB_SECONDS // 60} minutes"
    return status.get("Err") or status["State"]


def report(image: str, constraints: list[str], outcomes: Outcomes, log: Callable[[str], None]) -> None:
    if not outcomes:
        under = f" under {', '.join(constraints)}" if constraints else ""
        log(f"Pulling {image} on the nodes: no node is eligible{under}; a node pulls it when a server is placed there")
        return
    pulled = sorted(host for host, why in outcomes.items() if not why)
    if pulled:
        log(f"Pulled {image} on {', '.join(pulled)}")
    for host, why in sorted(outcomes.items()):
        if why:
            log(f"Pulling {image} on {host} failed: {why}. A server placed there pulls it again at spawn.")
