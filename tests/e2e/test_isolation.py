"""Two users get two containers and two volumes, and neither can reach the other's server."""

import re

import pytest
import requests

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "bob"})


@pytest.fixture(scope="module")
def bob(stack):
    client = stack.client_for().login("bob", USER_PASSWORD)
    record_spawn(client.ensure_running())
    return client


def test_each_user_has_their_own_container_and_volume(stack, admin, bob):
    admin.put_file("private.txt", "admin only")
    [admin_container] = stack.user_containers("admin")
    [bob_container] = stack.user_containers("bob")
    assert admin_container.id != bob_container.id
    mounts = {
        c.name: [m["Name"] for m in c.attrs["Mounts"] if m["Type"] == "volume"]
        for c in (admin_container, bob_container)
    }
    names = {user: (stack.server_name(user), stack.volume_name(user)) for user in ("admin", "bob")}
    assert mounts == {container: [volume] for container, volume in names.values()}
    assert sorted(volume.name for volume in stack.user_volumes()) == sorted(volume for _, volume in names.values())
    assert bob.server_api("GET", "/contents/private.txt").status_code == 404


def test_a_user_cannot_open_another_users_server(stack, admin, bob):
    admin.put_file("private.txt", "admin only")
    through_browser = bob.session.get(f"{stack.url}/user/admin/lab", timeout=60)
    assert through_browser.status_code == 403
    assert "admin only" not in through_browser.text
    through_api = bob.server_api("GET", "/contents/private.txt", owner="admin")
    assert through_api.status_code == 403
    assert "admin only" not in through_api.text


def test_a_non_admin_cannot_use_the_admin_api(bob):
    assert bob.api("GET", "/users").status_code == 403
    assert bob.api("DELETE", "/users/admin/server").status_code == 404


def test_a_wrong_password_or_unlisted_user_is_refused(stack):
    with pytest.raises(AssertionError, match="HTTP 403"):
        stack.client_for().login("bob", "not-the-password")
    with pytest.raises(AssertionError, match="HTTP 403"):
        stack.client_for().login("mallory", USER_PASSWORD)
    with pytest.raises(AssertionError, match="HTTP 403"):
        stack.client_for().login("admin", USER_PASSWORD)


def test_the_hub_logs_the_real_client_address_and_never_a_spoofed_one(stack):
    spoofed = {"X-Real-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.10"}
    requests.get(f"{stack.url}/hub/login?next=%2Fspoof-check", headers=spoofed, timeout=30)
    [line] = [line for line in stack.logs().splitlines() if "spoof-check" in line and "GET /hub/login" in line]
    assert "203.0.113." not in line
    [network] = stack.hub_container().attrs["NetworkSettings"]["Networks"].values()
    # Through a published port, the hub's container sees the connection come from the network's gateway
    # (the proxy, in Node, writes it in IPv6-mapped form).
    assert re.search(rf"@(::ffff:)?{re.escape(network['Gateway'])}\)", line), line


def test_the_hub_container_runs_with_least_privilege(stack):
    hub = stack.hub_container()
    host_config = hub.attrs["HostConfig"]
    assert host_config["CapDrop"] == ["ALL"]
    assert sorted(cap.removeprefix("CAP_") for cap in host_config["CapAdd"]) == ["CHOWN", "KILL", "SETGID", "SETUID"]
    assert "no-new-privileges:true" in host_config["SecurityOpt"]
    assert (host_config["PidsLimit"], host_config["ReadonlyRootfs"]) == (1024, True)
    uids = {args: uid for _, uid, args in hub.top(ps_args="-o pid,uid,args")["Processes"]}
    assert [uid for args, uid in uids.items() if "configurable-http-proxy" in args] == ["13"], uids
    written = stack.compose_result("exec", "-T", "hub", "touch", "/etc/jupyterhub/written")
    assert written.returncode != 0 and "Read-only file system" in written.stderr
