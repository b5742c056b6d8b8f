"""Native login: each user signs up with their own password, an admin approves, failed logins lock a name,
and a link on another site approves no one."""

import io
import re
import tarfile

import pytest

from harness.compose import record_spawn
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import page_message, wait_until
from tests.e2e.browser import chromium, log_in, spawn_until_lab

LOCKOUT_SECONDS = 15
PASSWORDS = {name: f"{name}-own-long-password" for name in ("nina", "omar", "pia", "rhea", "sol", "vera", "eve")}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory(
        {
            "AUTH_MODE": "native",
            "ADMIN_USERS": "teacher",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ALLOWED_USERS": "omar,pia,sol,vera",
            "LOGIN_ATTEMPTS": "3",
            "LOCKOUT_SECONDS": str(LOCKOUT_SECONDS),
        }
    )


@pytest.fixture(scope="module")
def teacher(stack):
    return stack.client_for().login("teacher", ADMIN_PASSWORD)


def signed_up(stack, name: str):
    client = stack.client_for()
    client.sign_up(name, PASSWORDS[name])
    return client


def test_a_sign_up_waits_for_approval_then_the_user_logs_in_and_runs_code(stack, teacher):
    nina = stack.client_for()
    assert "sent to the admin" in nina.sign_up("nina", PASSWORDS["nina"])
    refused = nina.login_response("nina", PASSWORDS["nina"])
    assert refused.status_code == 403
    assert "waits for an admin to approve it" in page_message(refused, "login_error")
    assert not teacher.approved("nina")

    assert teacher.toggle_approval("nina").status_code == 302
    assert teacher.approved("nina")
    nina.login("nina", PASSWORDS["nina"])
    record_spawn(nina.ensure_running())
    assert nina.run_once("import getpass; print(getpass.getuser(), 6 * 7)") == "jovyan 42"


def test_a_link_on_another_site_approves_and_discards_no_one(stack, teacher):
    eve = signed_up(stack, "eve")
    for action in ("authorize", "discard"):
        followed = teacher.session.get(f"{stack.url}/hub/{action}/eve", headers=CROSS_SITE, allow_redirects=False)
        assert followed.status_code == 405, action
        # A form on another site can POST with the admin's cookie, but without the page's XSRF token.
        forged = teacher.session.post(f"{stack.url}/hub/{action}/eve", headers=CROSS_SITE, allow_redirects=False)
        assert forged.status_code == 403, action
    assert not teacher.approved("eve")
    assert eve.login_response("eve", PASSWORDS["eve"]).status_code == 403

    discarded = teacher.post_form("/hub/discard/eve", {}, form_page="/hub/authorize")
    assert discarded.status_code == 302
    assert 'id="eve"' not in teacher.session.get(f"{stack.url}/hub/authorize", timeout=30).text


def test_a_listed_name_is_approved_when_it_signs_up(stack):
    omar = signed_up(stack, "omar")
    assert omar.login("omar", PASSWORDS["omar"]).whoami() == "omar"


def test_short_and_common_passwords_are_refused(stack, teacher):
    client = stack.client_for()
    for password in ("short-pw1", "1qaz2wsx3edc"):
        assert "at least 12 characters and is not too common" in client.sign_up("quinn", password)
    assert 'id="quinn"' not in teacher.session.get(f"{stack.url}/hub/authorize", timeout=30).text


def test_a_user_changes_their_password_and_an_admin_resets_it(stack, teacher):
    pia = signed_up(stack, "pia").login("pia", PASSWORDS["pia"])
    assert "changed successfully" in pia.change_password(PASSWORDS["pia"], "pia-second-password")
    assert stack.client_for().login_response("pia", PASSWORDS["pia"]).status_code == 403
    stack.client_for().login("pia", "pia-second-password")

    assert "has been changed successfully" in teacher.reset_password("pia", "pia-password-from-admin")
    assert stack.client_for().login_response("pia", "pia-second-password").status_code == 403
    stack.client_for().login("pia", "pia-password-from-admin")


def test_wrong_passwords_lock_the_name_for_the_lockout_then_the_right_one_works(stack):
    client = signed_up(stack, "sol")
    for _ in range(3):
        assert client.login_response("sol", "not-sols-password").status_code == 403
    locked = client.login_response("sol", PASSWORDS["sol"])
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT_SECONDS
    assert re.search(
        r"Too many failed logins for this user name from your address\. Try again in \d+ seconds", locked.text
    )
    # Another name from the same address is not held back.
    assert stack.client_for().login_response("omar", PASSWORDS["omar"]).status_code == 302

    wait_until(
        lambda: client.login_response("sol", PASSWORDS["sol"]).status_code == 302,
        "sol's lockout to end",
        seconds=LOCKOUT_SECONDS + 10,
        every=1,
    )


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def test_in_a_real_browser_sign_up_approval_and_jupyterlab(stack, browser):
    rhea = browser.new_context().new_page()
    rhea.goto(f"{stack.url}/hub/signup")
    rhea.fill("#username_input", "rhea")
    rhea.fill("#password_input", PASSWORDS["rhea"])
    rhea.fill("#password_confirmation_input", PASSWORDS["rhea"])
    rhea.locator("#signup_submit").click()
    rhea.get_by_text("Your information has been sent to the admin").wait_for()

    admin = browser.new_context().new_page()
    log_in(admin, stack.url, "teacher", ADMIN_PASSWORD, next_page="/hub/authorize")
    admin.wait_for_url(f"{stack.url}/hub/authorize")
    admin.locator("tr#rhea").get_by_role("button", name="Authorize").click()
    admin.locator("tr#rhea td", has_text="Yes").wait_for()

    log_in(rhea, stack.url, "rhea", PASSWORDS["rhea"])
    spawn_until_lab(rhea, stack.url, "rhea", "native-signup-jupyterlab.png")


def test_passwords_survive_a_backup_and_restore_of_a_lost_data_volume(stack):
    signed_up(stack, "vera")
    streamed = stack.compose_result("exec", "-T", "hub", "appliance", "backup", "--output", "-", binary_input=b"")
    assert streamed.returncode == 0, streamed.stderr
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        assert "jupyterhub.sqlite" in tar.getnames()

    stack.run_compose("stop", "hub")
    stack.run_compose("rm", "-f", "hub")
    stack.client.volumes.get(f"{stack.project}_hub-data").remove()
    restored = stack.compose_result("run", "--rm", "-T", "hub", "restore", "-", binary_input=streamed.stdout)
    assert restored.returncode == 0, restored.stderr
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()

    assert stack.client_for().login("vera", PASSWORDS["vera"]).whoami() == "vera"
    assert stack.client_for().login_response("vera", "not-veras-password").status_code == 403
