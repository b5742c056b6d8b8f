"""OpenID Connect login against a real provider: groups admit, make admins and become JupyterHub groups;
everyone else gets a 403 that says why; a refused client secret is named in the log."""

import pytest
import requests

from harness.compose import RUN_ID, TEST_RUN_LABEL, doctor, free_port, record_spawn
from tests.e2e.browser import chromium, spawn_until_lab, wait_until_logged_in
from tests.e2e.oidc_provider import OidcProvider, build_image

USERS = {
    "ada": ["students"],
    "kim": ["staff"],
    "mal": ["visitors"],
    "lena": ["students"],
}


@pytest.fixture(scope="module")
def provider(stack_factory, docker_client):
    """Started while the stack starts (on its network); stopped before the stack goes, which depends on it."""
    build_image(docker_client)
    provider = OidcProvider(f"oidc-{RUN_ID}", free_port(), {TEST_RUN_LABEL: RUN_ID})
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def stack(stack_factory, provider):
    hub_port = free_port()
    public_url = f"http://127.0.0.1:{hub_port}"

    def start_provider_and_register_the_hub(stack):
        provider.start(stack.network)
        client_id, client_secret = provider.register_client(f"{public_url}/hub/oauth_callback")
        stack.change_env(OIDC_CLIENT_ID=client_id, OIDC_CLIENT_SECRET=client_secret)
        stack.run_compose("up", "--no-start", "--force-recreate", "hub")

    stack = stack_factory(
        {
            "HUB_PORT": str(hub_port),
            "PUBLIC_URL": public_url,
            "AUTH_MODE": "oidc",
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": "replaced-once-registered",
            "OIDC_CLIENT_SECRET": "replaced-once-registered",
            "ALLOWED_GROUPS": "students",
            "ADMIN_GROUPS": "staff",
        },
        before_start=start_provider_and_register_the_hub,
    )
    for name, groups in USERS.items():
        provider.set_user(name, {"preferred_username": name, "groups": groups, "email": f"{name}@example.org"})
    return stack


def test_the_authorize_request_carries_the_callback_scopes_and_pkce(stack, provider):
    query, _ = provider.login_attempt(stack.client_for(), "ada")
    assert query["redirect_uri"] == f"{stack.url}/hub/oauth_callback"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43


def test_an_allowed_group_member_logs_in_and_runs_code(stack, provider):
    ada = provider.log_in(stack.client_for(), "ada")
    assert ada.whoami() == "ada"
    record_spawn(ada.ensure_running())
    assert ada.run_once("print('hello from', 'ada')") == "hello from ada"


def test_someone_in_no_allowed_group_gets_a_403_that_says_why(stack, provider):
    _, callback = provider.login_attempt(stack.client_for(), "mal")
    assert callback.status_code == 403
    assert "nor a member of an allowed group" in callback.text


def test_an_admin_group_member_opens_the_admin_panel_and_a_member_does_not(stack, provider):
    kim = provider.log_in(stack.client_for(), "kim")
    assert kim.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 200
    lena = provider.log_in(stack.client_for(), "lena")
    assert lena.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 403

    groups = {group["name"]: sorted(group["users"]) for group in kim.api("GET", "/groups").json()}
    assert {"students", "staff"} <= set(groups)
    assert "lena" in groups["students"] and groups["staff"] == ["kim"]


@pytest.fixture(scope="module")
def browser(provider):
    # The hub sends the browser to the provider by its name on the appliance network.
    with chromium(f"--host-resolver-rules=MAP {provider.name} 127.0.0.1") as browser:
        yield browser


def test_in_a_real_browser_through_the_providers_page_to_jupyterlab(stack, provider, browser):
    page = browser.new_page()
    page.goto(f"{stack.url}/hub/login")
    page.get_by_text(f"Sign in with {provider.name}").click()
    page.wait_for_url(f"{provider.issuer}/oauth2/authorize**")
    page.fill("input[name=sub]", "lena")
    page.get_by_role("button", name="Authorize", exact=True).click()
    wait_until_logged_in(page, stack.url, "lena")
    spawn_until_lab(page, stack.url, "lena", "oidc-login-jupyterlab.png")


def test_someone_taken_out_of_the_allowed_group_loses_their_open_session(stack, provider):
    provider.set_user("nora", {"preferred_username": "nora", "groups": ["students"]})
    nora = provider.log_in(stack.client_for(), "nora")
    assert nora.whoami() == "nora"
    provider.set_user("nora", {"preferred_username": "nora", "groups": ["alumni"]})
    stack.run_compose("restart", "hub")
    stack.wait_healthy()
    assert nora.api("GET", "/user").status_code == 403, "the provider was asked again, with nora's token"
    assert provider.login_attempt(stack.client_for(), "nora")[1].status_code == 403


def test_the_doctor_checks_the_issuer(stack, provider):
    code, rows, report = doctor(stack)
    assert rows["auth"] == "PASS", report
    assert f"OpenID Connect login at {provider.issuer} (discovery answers)" in report
    code, rows, report = doctor(stack, OIDC_ISSUER=f"{provider.issuer}/realms/none")
    assert code == 1 and rows["auth"] == "FAIL"
    assert "answered HTTP 404" in report


def test_a_wrong_client_secret_shows_an_error_page_and_names_the_settings(stack, provider):
    stack.change_env(OIDC_CLIENT_SECRET="the-secret-was-rotated")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    _, callback = provider.login_attempt(stack.client_for(), "ada")
    assert callback.status_code == 502
    assert "refused to sign you in to this hub" in callback.text
    logs = stack.logs()
    assert "Check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OAUTH_CALLBACK_URL" in logs
    assert "the-secret-was-rotated" not in logs
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200
