"""USER_EGRESS=none and =all, and USER_NETWORK_ISOLATION=off: the same probes as test_network_isolation.py.

With isolation off every probe succeeds, so the refusals seen with it on are the rules' doing.
"""

import io

from appliance.images import image_name
from tests.e2e.hub_client import wait_until
from tests.e2e.network_probe import OUTSIDE, kernel_of, listen_in, reaches, reaches_with_host
from tests.e2e.stack import HUB_IMAGE, RUN_ID, SINGLEUSER_IMAGE, record_spawn

ADMIN_PASSWORD = "network-policies-admin-password-012345"
USER_PASSWORD = "students-password"


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
    targets = {**OUTSIDE, "bob's own port": ("jupyter-bob", 9000), "hub public port": ("hub", 8000)}
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
    got = reaches_with_host(kernel_of(alice), stack, {**OUTSIDE, "bob's own port": ("jupyter-bob", 9000)})
    assert got == {
        "internet": "open",
        "metadata": "Connection refused",
        "private": "open",
        "allowed private": "open",
        "the Docker host": "Connection refused",
        "bob's own port": "Connection refused",
    }


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
