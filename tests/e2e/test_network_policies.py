"""USER_EGRESS=none and =all, and USER_NETWORK_ISOLATION=off: the same probes as test_network_isolation.py.

With isolation off every probe succeeds, so the refusals seen with it on are the rules' doing.
"""

import io

import pytest

from appliance.images import image_name
from harness.compose import HUB_IMAGE, RUN_ID, SINGLEUSER_IMAGE, TEST_RUN_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until
from tests.e2e.canaries import DNS_PORT, HostListener
from tests.e2e.network_probe import OUTSIDE, kernel_of, listen_in, reaches, reaches_with_host


def users_of(stack_factory, **env):
    stack = stack_factory(
        {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "alice,bob", **env}
    )
    clients = []
    for name in ("alice", "bob"):
        client = stack.client_for().login(name, USER_PASSWORD)
        record_spawn(client.ensure_running())
        clients.append(client)
    return stack, *clients


def test_with_isolation_off_every_probe_succeeds_and_the_hub_warns(stack_factory, canaries):
    stack, alice, bob = users_of(stack_factory, USER_NETWORK_ISOLATION="off")
    listen_in(kernel_of(bob), 9000)
    targets = {**OUTSIDE, "bob's own port": (stack.server_name("bob"), 9000), "hub public port": ("hub", 8000)}
    got = reaches_with_host(kernel_of(alice), stack, targets)
    assert set(got.values()) == {"open"}, got
    assert "WARNING: USER_NETWORK_ISOLATION=off: user servers are not firewalled" in stack.logs()
    report = stack.compose_result("exec", "-T", "hub", "appliance", "doctor")
    assert "network rules       WARN  USER_NETWORK_ISOLATION=off" in report.stdout
    assert "warning(s): network rules, plain HTTP" in report.stdout


def test_exam_mode_reaches_the_hub_api_and_nothing_else(stack_factory, canaries):
    _, alice, _ = users_of(stack_factory, USER_EGRESS="none")
    got = reaches(kernel_of(alice), {**OUTSIDE, "hub API": ("hub", 8081)})
    assert got == {
        "internet": "Connection refused",
        "metadata": "Connection refused",
        "private": "Connection refused",
        "allowed private": "Connection refused",
        "hub API": "open",
    }


def test_egress_all_reaches_private_networks_but_never_metadata_users_or_the_host(stack_factory, canaries):
    stack, alice, bob = users_of(stack_factory, USER_EGRESS="all")
    listen_in(kernel_of(bob), 9000)
    got = reaches_with_host(kernel_of(alice), stack, {**OUTSIDE, "bob's own port": (stack.server_name("bob"), 9000)})
    assert got == {
        "internet": "open",
        "metadata": "Connection refused",
        "private": "open",
        "allowed private": "open",
        "the Docker host": "Connection refused",
        "bob's own port": "Connection refused",
    }


# The private ranges and link-local, as a lab that allows "its networks" might write them.
EVERY_PRIVATE_RANGE = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16"
ROOT_IMAGE = f"appliance-e2e-root-user:{RUN_ID}"


def test_an_allow_list_of_every_private_range_opens_none_of_what_is_always_blocked(stack_factory, canaries):
    stack, alice, bob = users_of(stack_factory, USER_EGRESS_ALLOW=EVERY_PRIVATE_RANGE)
    listen_in(kernel_of(bob), 9000)
    always_blocked = {"bob's own port": (stack.server_name("bob"), 9000), "hub public port": ("hub", 8000)}
    got = reaches_with_host(kernel_of(alice), stack, {**OUTSIDE, **always_blocked})
    assert got == {
        "internet": "open",
        "metadata": "Connection refused",
        "private": "open",
        "allowed private": "open",
        "bob's own port": "Connection refused",
        "hub public port": "Connection refused",
        "the Docker host": "Connection refused",
    }
    assert "USER_EGRESS_ALLOW entries 169.254.0.0/16 overlap link-local" in stack.logs()


@pytest.fixture(scope="module")
def root_image(docker_client):
    """A user image whose user is root, as some admins' own images are (its work folder open to all: without
    capabilities, root cannot write into jovyan's)."""
    dockerfile = (
        f"FROM {SINGLEUSER_IMAGE}\nUSER root\nRUN chmod 0777 /home/jovyan/work\n"
        'CMD ["jupyterhub-singleuser", "--allow-root"]\n'
    )
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=ROOT_IMAGE, labels={TEST_RUN_LABEL: RUN_ID}, rm=True
    )
    yield ROOT_IMAGE
    docker_client.images.remove(ROOT_IMAGE, force=True)


def test_a_root_user_sends_to_port_53_only_through_dockers_resolver(stack_factory, canaries, root_image):
    stack = stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "alice",
            "ALLOWED_IMAGES": root_image,
        }
    )
    alice = stack.client_for().login("alice", USER_PASSWORD)
    record_spawn(alice.start_server({"image": root_image}))
    assert alice.open_lab().status_code == 200
    kernel = kernel_of(alice)
    assert kernel.run("import os; print(os.getuid())") == "0"
    [network] = stack.hub_container().attrs["NetworkSettings"]["Networks"].values()
    host = HostListener(network["Gateway"], DNS_PORT)
    try:
        got = reaches(kernel, {**{name: (address, DNS_PORT) for name, (address, _) in OUTSIDE.items()},
                               "the Docker host": (host.address, DNS_PORT)})  # fmt: skip
    finally:
        host.stop()
    assert got == {
        "internet": "open",
        "metadata": "Connection refused",
        "private": "Connection refused",
        "allowed private": "Connection refused",
        "the Docker host": "Connection refused",
    }
    # Names of containers still resolve, through Docker's resolver.
    assert kernel.run("import socket; print(socket.gethostbyname('hub'))") == network["IPAddress"]


def test_a_host_that_cannot_apply_the_rules_stops_the_hub_unless_isolation_is_turned_off(stack_factory, docker_client):
    # The tool the rules need is hidden: a hub image without iptables-restore, under names of its own.
    registry = f"e2e-no-iptables-{RUN_ID}.invalid/appliance"
    hub_image, user_image = image_name("hub", registry), image_name("singleuser", registry)
    dockerfile = f"FROM {HUB_IMAGE}\nRUN rm /usr/sbin/iptables-restore /usr/sbin/ip6tables-restore\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=hub_image, rm=True)
    docker_client.images.get(SINGLEUSER_IMAGE).tag(user_image)
    try:
        env = {"IMAGE_REGISTRY": registry, "SINGLEUSER_IMAGE": SINGLEUSER_IMAGE, "ADMIN_PASSWORD": ADMIN_PASSWORD}
        stack = stack_factory(env, healthy=False)
        hub = wait_until(lambda: exited(stack), "the hub that cannot apply the rules to exit", seconds=60)
        assert (hub.attrs["State"]["ExitCode"], hub.attrs["RestartCount"]) == (2, 0)
        logs = stack.logs()
        assert "USER_NETWORK_ISOLATION=on, but the network rules of user servers cannot be applied" in logs
        assert "iptables-restore: not found" in logs
        assert "set USER_NETWORK_ISOLATION=off to run without isolation" in logs
        stack.change_env(USER_NETWORK_ISOLATION="off")
        stack.run_compose("up", "-d", "--force-recreate", "hub")
        stack.wait_healthy()
        assert "WARNING: USER_NETWORK_ISOLATION=off" in stack.logs()
    finally:
        stack_factory.down_all()
        docker_client.images.remove(hub_image, force=True)
        docker_client.images.remove(user_image)


def exited(stack):
    hub = stack.hub_container()
    return hub if hub.status == "exited" else None
