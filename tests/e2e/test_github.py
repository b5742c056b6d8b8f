"""GitHub login against a fake GitHub that speaks the real protocol: who gets in, who does not, and why."""

import pytest
import requests

from harness.compose import HUB_IMAGE, RUN_ID, TEST_RUN_LABEL, free_port, record_spawn
from harness.hub_client import HubClient
from tests.e2e.browser import chromium, spawn_until_lab, wait_until_logged_in
from tests.fake_github.container import FakeGitHubContainer

CLIENT_ID = "appliance-e2e-app"
CLIENT_SECRET = "appliance-e2e-secret"
USERS = {
    "alice": {"id": 1},
    "bella": {"id": 2},
    "olga": {"id": 3, "orgs": ["lab"]},
    "tom": {"id": 4, "teams": ["school:physics"]},
    "sam": {"id": 5, "teams": ["lab:staff"]},
    "eve": {"id": 6, "orgs": ["elsewhere"], "teams": ["school:chemistry"]},
}


@pytest.fixture(scope="module")
def github_port():
    return free_port()


@pytest.fixture(scope="module")
def fake_name():
    return f"fake-github-{RUN_ID}"


@pytest.fixture(scope="module")
def stack(stack_factory, github_port, fake_name):
    hub_port = free_port()
    return stack_factory(
        {
            "HUB_PORT": str(hub_port),
            "PUBLIC_URL": f"http://127.0.0.1:{hub_port}",
            "GITHUB_CLIENT_ID": CLIENT_ID,
            "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
            "GITHUB_URL": f"http://{fake_name}:{github_port}",
            "ALLOWED_USERS": "alice,bella",
            "ALLOWED_ORGANIZATIONS": "lab,school:physics",
            "ADMIN_TEAMS": "lab:staff",
            "EXPOSE_GITHUB_TOKEN": "true",
        }
    )


@pytest.fixture(scope="module")
def github(stack, github_port, fake_name):
    fake = FakeGitHubContainer(HUB_IMAGE, fake_name, github_port, stack.network, {TEST_RUN_LABEL: RUN_ID}).start()
    fake.configure(CLIENT_ID, CLIENT_SECRET, USERS)
    yield fake
    fake.stop()


def logged_in(stack, github, login) -> HubClient:
    return stack.client_for().login_with_github(github, login)


def test_the_authorize_request_carries_the_derived_callback_scope_and_pkce(stack, github):
    attempt = stack.client_for().github_login_attempt(github, "alice")
    query = attempt.authorize_query
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{stack.url}/hub/oauth_callback"
    # read:org for the organization rules, public_repo (GITHUB_SCOPES) for the exposed token to push.
    assert query["scope"] == "read:org public_repo"
    assert "read:org public_repo" in attempt.authorize_page
    assert query["code_challenge_method"] == "S256"
    assert attempt.callback.status_code == 302


def test_an_allowed_user_gets_in_but_not_into_the_admin_panel(stack, github):
    alice = logged_in(stack, github, "alice")
    assert alice.whoami() == "alice"
    assert alice.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 403
    assert "GET /api/v3/user" in github.state()["calls"]


def test_an_organization_member_gets_in(stack, github):
    assert logged_in(stack, github, "olga").whoami() == "olga"
    assert "GET /api/v3/orgs/lab/members/olga" in github.state()["calls"]


def test_a_team_member_gets_in(stack, github):
    assert logged_in(stack, github, "tom").whoami() == "tom"
    assert "GET /api/v3/orgs/school/teams/physics/members/tom" in github.state()["calls"]


def test_an_admin_team_member_opens_the_admin_panel(stack, github):
    sam = logged_in(stack, github, "sam")
    assert sam.api("GET", "/user").json()["admin"] is True
    assert sam.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 200
    assert "GET /api/v3/user/teams" in github.state()["calls"]
    logged_in(stack, github, "tom")
    groups = {group["name"]: group["users"] for group in sam.api("GET", "/groups").json()}
    assert "sam" in groups["lab:staff"] and "tom" in groups["school:physics"], "teams became JupyterHub groups"


def test_a_github_user_outside_every_rule_gets_a_403_that_says_why(stack, github):
    attempt = stack.client_for().github_login_attempt(github, "eve")
    assert attempt.callback.status_code == 403
    assert "not allowed on this hub: it is not among the allowed users" in attempt.callback.text
    assert "GET /api/v3/orgs/lab/members/eve" in github.state()["calls"]


def test_the_users_github_token_reaches_their_kernel(stack, github):
    alice = logged_in(stack, github, "alice")
    record_spawn(alice.ensure_running())
    seen = alice.run_once("import os; print(os.environ.get('GITHUB_TOKEN', 'missing'))")
    assert seen in github.tokens_of("alice")
    assert seen.startswith("gho_")
    assert "public_repo" in github.state()["tokens"][seen]["scope"].split(), "the token can push"


def test_a_wrong_client_secret_is_logged_clearly_and_the_hub_keeps_running(stack, github):
    github.configure(CLIENT_ID, "the-secret-was-rotated", USERS)
    try:
        attempt = stack.client_for().github_login_attempt(github, "alice")
    finally:
        github.configure(CLIENT_ID, CLIENT_SECRET, USERS)
    assert attempt.callback.status_code == 403
    assert "client_id and/or client_secret passed are incorrect" in attempt.callback.text
    logs = stack.logs()
    assert "GitHub did not issue a token" in logs
    assert "Check GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET" in logs
    assert CLIENT_SECRET not in logs
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200
    assert logged_in(stack, github, "olga").whoami() == "olga"


@pytest.fixture(scope="module")
def browser(fake_name):
    # The hub sends the browser to the fake GitHub by its name on the appliance network.
    with chromium(f"--host-resolver-rules=MAP {fake_name} 127.0.0.1") as browser:
        yield browser


def test_in_a_real_browser_sign_in_with_github_then_jupyterlab_loads(stack, github, browser):
    page = browser.new_page()
    page.goto(f"{stack.url}/hub/login")
    page.get_by_text("Sign in with GitHub").click()
    page.wait_for_url(f"{github.hub_url}/login/oauth/authorize**")
    assert "read:org" in page.content()
    page.get_by_role("button", name="Authorize as bella").click()
    wait_until_logged_in(page, stack.url, "bella")

    spawn_until_lab(page, stack.url, "bella", "github-login-jupyterlab.png")


def test_a_user_taken_off_the_allow_list_loses_their_open_session(stack, github):
    alice = logged_in(stack, github, "alice")
    assert alice.whoami() == "alice"
    stack.change_env(ALLOWED_USERS="bella")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    assert alice.api("GET", "/user").status_code == 403, "the session was checked against the rules again"
    assert stack.client_for().github_login_attempt(github, "alice").callback.status_code == 403
    assert logged_in(stack, github, "bella").whoami() == "bella"
