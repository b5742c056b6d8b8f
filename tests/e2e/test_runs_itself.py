"""The hub runs itself: idle servers are culled, busy ones kept; named servers; a Prometheus scrape."""

import pytest
import requests

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until

METRICS_TOKEN = "prometheus-scrape-token-0123456789abcdef"
IDLE_TIMEOUT = 30


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "bob,carol",
            "IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            "METRICS_TOKEN": METRICS_TOKEN,
            "NAMED_SERVERS": "2",
        }
    )


def test_prometheus_scrapes_metrics_with_the_token_only(stack):
    scrape = requests.get(f"{stack.url}/hub/metrics", headers={"Authorization": f"token {METRICS_TOKEN}"}, timeout=10)
    assert scrape.status_code == 200
    assert "jupyterhub_running_servers" in scrape.text
    assert requests.get(f"{stack.url}/hub/metrics", timeout=10).status_code == 403
    wrong = requests.get(f"{stack.url}/hub/metrics", headers={"Authorization": "token nope"}, timeout=10)
    assert wrong.status_code == 403


def test_named_servers_get_their_own_container_and_volume_up_to_the_limit(stack):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    for name in ("analysis", "thesis"):
        response = bob.api("POST", f"/users/bob/servers/{name}")
        assert response.status_code in (201, 202), response.text
    wait_until(
        lambda: all(s["ready"] for s in bob.api("GET", "/users/bob").json()["servers"].values()),
        "bob's named servers to be ready",
    )
    containers = {c.name: c for c in stack.user_containers("bob")}
    assert set(containers) == {stack.server_name("bob", "analysis"), stack.server_name("bob", "thesis")}
    volumes = {name: [m["Name"] for m in container.attrs["Mounts"]] for name, container in containers.items()}
    assert volumes == {stack.server_name("bob", s): [stack.volume_name("bob", s)] for s in ("analysis", "thesis")}
    assert containers[stack.server_name("bob", "thesis")].labels["jupyterhub-appliance.server"] == "thesis"

    over_limit = bob.api("POST", "/users/bob/servers/third")
    assert over_limit.status_code == 400
    assert "maximum of 2 named servers" in over_limit.json()["message"]

    for name in ("analysis", "thesis"):
        assert bob.api("DELETE", f"/users/bob/servers/{name}").status_code in (202, 204)
    wait_until(lambda: not stack.user_containers("bob"), "bob's named servers to stop")
    assert {v.name for v in stack.user_volumes()} >= {stack.volume_name("bob", s) for s in ("analysis", "thesis")}


def test_an_idle_server_is_culled_and_a_busy_one_kept(stack):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    carol = stack.client_for().login("carol", USER_PASSWORD)
    record_spawn(bob.ensure_running())
    record_spawn(carol.ensure_running())

    def bob_culled_while_carol_works() -> bool:
        assert carol.server_api("GET", "/contents").status_code == 200
        return bob.server_model() is None

    wait_until(bob_culled_while_carol_works, "bob's idle server to be culled", seconds=IDLE_TIMEOUT * 4, every=2)
    assert carol.server_model()["ready"] is True
    assert [c.name for c in stack.user_containers()] == [stack.server_name("carol")]
    assert stack.volume_name("bob") in {v.name for v in stack.user_volumes()}
