"""The hub is not root on the host: it holds no Docker socket, and what it asks of Docker through the broker is
refused unless it is the appliance's own work, while servers still start and run code."""

import json
import re

import pytest

from harness.credentials import ADMIN_PASSWORD

REFUSED_BY = "refused by the appliance's Docker broker:"
# Run in the hub with its own Docker endpoint (DOCKER_HOST), as a compromised hub would: each attempt's status
# and Docker's explanation, as JSON. Labels and hardening are the appliance's, so that only one rule is broken.
ATTEMPTS = r"""
import json, sys
import docker

instance, image, server = sys.argv[1:4]
api = docker.APIClient(base_url=__import__("os").environ["DOCKER_HOST"])
labels = {"jupyterhub-appliance.instance": instance, "jupyterhub-appliance.user": "admin"}
hardened = dict(cap_drop=["ALL"], security_opt=["no-new-privileges"], pids_limit=64)

def container(labels=labels, **host):
    config = api.create_host_config(**{**hardened, **host})
    return lambda: api.create_container(image, labels=labels, host_config=config)

attempts = {
    "privileged": container(privileged=True),
    "root bind": container(binds=["/:/host"]),
    "docker socket": container(binds=["/var/run/docker.sock:/var/run/docker.sock"]),
    "host network": container(network_mode="host"),
    "SYS_ADMIN": container(cap_add=["SYS_ADMIN"]),
    "other instance": container(labels={"jupyterhub-appliance.instance": "another-appliance"}),
    "bind volume": lambda: api.create_volume(
        "broker-e2e-bind", driver_opts={"type": "none", "o": "bind", "device": "/"},
        labels={"jupyterhub-appliance.instance": instance},
    ),
    "exec": lambda: api.exec_create(server, ["id"]),
}
results = {}
for name, attempt in attempts.items():
    try:
        attempt()
        results[name] = [200, "allowed"]
    except docker.errors.APIError as error:
        results[name] = [error.status_code, error.explanation]
print(json.dumps(results))
"""
RULES = {
    "privileged": "Privileged is not allowed",
    "root bind": "host path / is not allowed",
    "docker socket": "host path /var/run/docker.sock is not allowed",
    "host network": "NetworkMode host is only for the appliance's own helpers",
    "SYS_ADMIN": "CapAdd SYS_ADMIN is not allowed",
    "other instance": "must carry the label jupyterhub-appliance.instance=",
    "bind volume": "the volume options",
    "exec": "exec on a container is not an operation the appliance uses",
}


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD})


def test_the_hub_holds_no_docker_socket(stack):
    hub = stack.hub_container()
    assert not [m for m in hub.attrs["Mounts"] if "docker.sock" in m["Source"] + m["Destination"]]
    found = stack.compose_result("exec", "-T", "hub", "sh", "-c", "ls -l /var/run/docker.sock /run/docker.sock")
    assert found.returncode != 0 and "No such file" in found.stderr
    broker = stack.service_container("broker")
    assert any(m["Destination"] == "/var/run/docker.sock" for m in broker.attrs["Mounts"])


def test_what_would_take_the_host_is_refused_and_logged(stack, admin):
    [server] = stack.user_servers("admin")
    image = server.attrs["Config"]["Image"]
    ran = stack.compose_result(
        "exec", "-T", "hub", "python3", "-", stack.project, image, server.id, binary_input=ATTEMPTS.encode()
    )
    assert ran.returncode == 0, ran.stderr.decode()
    results = json.loads(ran.stdout)
    for name, rule in RULES.items():
        status, explanation = results[name]
        assert status == 403 and REFUSED_BY in explanation and rule in explanation, (name, explanation)
    broker_log = stack.run_compose("logs", "--no-color", "broker")
    assert re.search(r"refused POST /v[\d.]+/containers/create: Privileged is not allowed", broker_log)
    made = stack.client.containers.list(all=True, filters={"label": "jupyterhub-appliance.instance"})
    assert not [c for c in made if c.labels.get("jupyterhub-appliance.instance") == "another-appliance"]
    assert not [v for v in stack.client.volumes.list() if v.name == "broker-e2e-bind"]


def test_servers_still_start_and_run_code_through_the_broker(admin):
    assert admin.run_once("import os; print(os.getuid())") == "1000"
