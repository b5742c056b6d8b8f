"""Teaching assistants help without being admins (ASSISTANT_GROUPS=ta:students): a TA lists the students, starts a
student's server, opens it and runs code there, stops it; is refused any other user's server, the admin page and
changing groups; and a TA added to the group while the hub runs can help at once."""

import pytest

from harness.compose import Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until


@pytest.fixture(scope="module")
def stack(stack_factory) -> Stack:
    users = "alice,bob,tom,tina,mallory"
    stack = stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": users,
                           "ASSISTANT_GROUPS": "ta:students"})  # fmt: skip
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    for user in users.split(","):
        admin.api("POST", f"/users/{user}")
    made = admin.api("POST", "/groups/students", json={"users": ["alice", "bob"]})
    assert made.status_code == 201, made.text
    joined = admin.api("POST", "/groups/ta/users", json={"users": ["tom"]})  # the role made the helpers' group
    assert joined.status_code == 200, joined.text
    return stack


@pytest.fixture(scope="module")
def tom(stack) -> HubClient:
    return stack.client_for().login("tom", USER_PASSWORD)


def test_a_ta_lists_the_students_and_only_them(tom):
    listed = tom.api("GET", "/users")
    assert listed.status_code == 200, listed.text
    assert sorted(user["name"] for user in listed.json()) == ["alice", "bob"]


def test_a_ta_starts_opens_and_stops_a_students_server(stack, tom):
    for_alice = tom.on_behalf_of("alice")
    for_alice.ensure_running()
    assert for_alice.run_once("import os; print(os.environ['JUPYTERHUB_USER'])") == "alice"
    assert stack.user_containers("alice"), "alice's own server, with her volume"
    for_alice.stop_server()
    wait_until(lambda: not stack.user_containers("alice"), "alice's container to go")


def test_a_ta_is_refused_anyone_else_and_the_admin_page(stack, tom):
    assert tom.api("POST", "/users/mallory/server").status_code in (403, 404)
    assert tom.api("GET", "/users/mallory").status_code in (403, 404)
    assert tom.api("POST", "/groups/ta/users", json={"users": ["mallory"]}).status_code == 403
    assert tom.api("POST", "/groups/students/users", json={"users": ["mallory"]}).status_code == 403
    admin_page = tom.session.get(f"{tom.base_url}/hub/admin", timeout=30)
    assert admin_page.status_code == 403


def test_a_student_is_no_ta(stack):
    alice = stack.client_for().login("alice", USER_PASSWORD)
    assert alice.api("POST", "/users/bob/server").status_code in (403, 404)
    listed = alice.api("GET", "/users")
    assert listed.status_code == 403 or [user["name"] for user in listed.json()] == ["alice"]


def test_a_ta_added_while_the_hub_runs_helps_at_once(stack):
    tina = stack.client_for().login("tina", USER_PASSWORD)
    assert tina.api("GET", "/users/bob").status_code in (403, 404), "not a TA yet"
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    assert admin.api("POST", "/groups/ta/users", json={"users": ["tina"]}).status_code == 200
    assert tina.api("GET", "/users/bob").status_code == 200
    for_bob = tina.on_behalf_of("bob")
    for_bob.start_server()
    for_bob.stop_server()
