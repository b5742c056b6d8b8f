"""Password mode: failed logins from one address are answered 429 for a while, and a name taken out of
ALLOWED_USERS is locked out after `docker compose up -d`, its session ended and its volume kept."""

import re

import pytest

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until

LOCKOUT_SECONDS = 15


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(
        {
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "USER_PASSWORD": USER_PASSWORD,
            "ALLOWED_USERS": "tess,uma",
            "ADDRESS_LOGIN_ATTEMPTS": "4",
            "LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
        }
    )


def test_failed_logins_from_one_address_are_answered_429_until_the_lockout_ends(stack):
    client = stack.client_for()
    for name in ("guess1", "guess2", "guess3", "guess4"):
        assert client.login_response(name, "guessed-password").status_code == 403
    locked = client.login_response("tess", USER_PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT_SECONDS
    assert re.search(r"Too many failed logins from your address\. Try again in \d+ seconds", locked.text)
    assert "limits-shared-password" not in stack.logs()

    wait_until(
        lambda: client.login_response("tess", USER_PASSWORD).status_code == 302,
        "the address's lockout to end",
        seconds=LOCKOUT_SECONDS + 10,
        every=1,
    )


def test_a_name_taken_out_of_allowed_users_is_locked_out_after_compose_up(stack):
    uma = stack.client_for().login("uma", USER_PASSWORD)
    record_spawn(uma.ensure_running())
    uma.put_file("thesis.txt", "chapter one")
    uma.stop_server()

    stack.change_env(ALLOWED_USERS="tess")
    stack.run_compose("up", "-d")
    stack.wait_healthy()

    assert stack.client_for().login_response("uma", USER_PASSWORD).status_code == 403
    assert uma.api("GET", "/user").status_code == 403, "uma's browser session ended too"
    assert [volume.name for volume in stack.user_volumes()] == [stack.volume_name("uma")]
    assert stack.client_for().login("tess", USER_PASSWORD).whoami() == "tess"
