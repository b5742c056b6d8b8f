"""A user's server reaches the hub's API and the internet, nothing else: proven from inside real kernels.

USER_EGRESS=internet (the default) with one private address allowed. Every "cannot" here is matched
by a "can" in test_network_policies.py, where the same probes succeed with isolation off.
"""

import time

import pytest
import requests

from harness.compose import HELPER_FOR_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until
from tests.e2e.canaries import PRIVATE_ALLOWED
from tests.e2e.network_probe import OUTSIDE, kernel_of, listen_in, reaches, reaches_with_host

BLOCKED = ("Connection refused", "timed out")


def of_the_hub_and_bob(stack) -> dict[str, tuple[str, int]]:
    bob = stack.server_name("bob")
    return {
        "hub API": ("hub", 8081),
        "hub public port": ("hub", 8000),
        "proxy API": ("hub", 8001),
        "bob's server": (bob, 8888),
        "bob's own port": (bob, 9000),
    }


@pytest.fixture(scope="module")
def stack(stack_factory, canaries):
    env = {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "USER_PASSWORD": USER_PASSWORD,
        "ALLOWED_USERS": "alice,bob",
        "USER_EGRESS_ALLOW": f"{PRIVATE_ALLOWED}/32",
    }
    return stack_factory(env)


def logged_in(stack, name):
    client = stack.client_for().login(name, USER_PASSWORD)
    record_spawn(client.ensure_running())
    return client


@pytest.fixture(scope="module")
def alice(stack):
    return logged_in(stack, "alice")


@pytest.fixture(scope="module")
def bob(stack):
    client = logged_in(stack, "bob")
    listen_in(kernel_of(client), 9000)
    return client


def probe_the_hub_and_bob(stack, alice_kernel) -> dict[str, str]:
    started = time.monotonic()
    got = reaches(alice_kernel, of_the_hub_and_bob(stack))
    # Five probes of at most 3 s each: a refusal or a timeout, never a hang.
    assert time.monotonic() - started < 20
    return got


def test_a_user_reaches_the_hub_api_and_no_other_port_of_the_hub_or_of_another_user(stack, alice, bob):
    kernel = kernel_of(alice)
    got = probe_the_hub_and_bob(stack, kernel)
    assert got.pop("hub API") == "open", got
    assert all(outcome in BLOCKED for outcome in got.values()), got
    assert kernel.run("import urllib.request; print(urllib.request.urlopen('http://hub:8081/hub/api').status)") == "200"
    # The hub itself still reaches bob's server: through the proxy, and by its own checks.
    assert bob.server_api("GET", "/status").status_code == 200


def test_metadata_private_ranges_and_the_host_are_blocked_but_the_internet_and_allowed_networks_are_not(stack, alice):
    got = reaches_with_host(kernel_of(alice, "outside.ipynb"), stack, OUTSIDE)
    assert got == {
        "internet": "open",
        "metadata": "Connection refused",
        "private": "Connection refused",
        "allowed private": "open",
        "the Docker host": "Connection refused",
    }


def test_the_rules_hold_after_the_hub_restarts(stack, alice, bob):
    kernel = kernel_of(alice, "restart.ipynb")
    stack.run_compose("restart", "hub")
    stack.wait_healthy()
    wait_until(lambda: bob.server_api("GET", "/status").status_code == 200, "bob's server behind the proxy again")
    again = alice.connect_kernel(kernel.id)
    got = probe_the_hub_and_bob(stack, again)
    assert got.pop("hub API") == "open", got
    assert all(outcome in BLOCKED for outcome in got.values()), got
    assert reaches(again, {"metadata": OUTSIDE["metadata"]}) == {"metadata": "Connection refused"}


def test_the_doctor_probes_the_rules_for_real(stack):
    report = stack.run_compose("exec", "-T", "hub", "appliance", "doctor")
    [line] = [line for line in report.splitlines() if line.startswith("network rules")]
    assert "PASS" in line
    assert "hub API: open; another container on the network: Connection refused; " in line
    assert "169.254.169.254: Connection refused" in line


def test_the_spawn_reports_the_rules_and_the_server_gets_no_capability(stack, alice):
    [container] = stack.user_containers("alice")
    assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert not container.attrs["HostConfig"]["CapAdd"]
    alice.stop_server()
    messages = [event["message"] for event in alice.start_server().events]
    # The server joins the network only once its rules are in place.
    rules_applied = messages.index("Network rules applied (egress: internet)")
    assert messages.index(f"Connected to the network {stack.network}") > rules_applied
    assert requests.get(f"{stack.url}/hub/health", timeout=10).ok


def test_the_server_runs_with_loopback_only_until_its_rules_are_written(stack, alice, docker_client):
    """From Docker's own events: the server starts, the rules helper ends, and only then is it connected."""
    alice.stop_server()
    since = time.time()
    record_spawn(alice.start_server())
    [container] = stack.user_containers("alice")
    events = list(docker_client.events(since=since - 1, until=time.time() + 1, decode=True))

    def times(kind: str, action: str, matches) -> list[int]:
        return [e["timeNano"] for e in events if (e["Type"], e["Action"]) == (kind, action) and matches(e)]

    started = times("container", "start", lambda e: e["id"] == container.id)
    connected = times("network", "connect", lambda e: e["Actor"]["Attributes"].get("container") == container.id)
    helpers_done = times(
        "container",
        "die",
        lambda e: e["Actor"]["Attributes"].get(HELPER_FOR_LABEL) == "alice" and e["timeNano"] > started[0],
    )
    assert len(started) == 1 and len(connected) == 1 and helpers_done, events
    assert started[0] < min(helpers_done) < connected[0]
