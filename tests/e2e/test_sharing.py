"""Users share their servers (SHARING): under `group` (the default) alice's share link lets bob, who is in a group
with her, into her server, and not mallory, who is not; direct shares follow the same rule; the home page lists
the shares; revoking ends bob's access within the user servers' auth cache; alice and bob edit one notebook at
once (COLLABORATION, on by default), in two browsers; under `all` mallory may redeem too; under `off` no link can be
made and the shares made before are revoked at start."""

import time

import pytest

from appliance.sharing import AUTH_CACHE_SECONDS
from harness.compose import Stack
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.browser import LAB_SECONDS, chromium, keep_screenshot, log_in

# The auth cache's bound, and a hub round trip's slack.
REVOKED_WITHIN_SECONDS = AUTH_CACHE_SECONDS + 5
ALICES_NOTE = "shared-note.txt"
TOGETHER = "together.ipynb"
PYTHON3 = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@pytest.fixture(scope="module")
def stack(stack_factory) -> Stack:
    users = "alice,bob,mallory"
    stack = stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": users})
    admin = stack.client_for().login("admin", ADMIN_PASSWORD)
    for user in users.split(","):
        admin.api("POST", f"/users/{user}")
    for group, members in {"lab": ["alice", "bob"], "others": ["mallory"]}.items():
        made = admin.api("POST", f"/groups/{group}", json={"users": members})
        assert made.status_code == 201, made.text
    return stack


@pytest.fixture(scope="module")
def alice(stack) -> HubClient:
    alice = stack.client_for().login("alice", USER_PASSWORD)
    alice.ensure_running()
    alice.open_lab()
    alice.put_file(ALICES_NOTE, "from alice")
    return alice


def share_code(owner: HubClient) -> str:
    made = owner.api("POST", f"/share-codes/{owner.username}/")
    assert made.status_code == 200, made.text
    return made.json()["code"]


def redeem(visitor: HubClient, code: str):
    """Accept a share link as a browser does: its page, then its form."""
    return visitor.post_form("/hub/accept-share", {"code": code}, form_page=f"/hub/accept-share?code={code}")


def reads_alices_note(visitor: HubClient) -> bool:
    at_alice = visitor.on_behalf_of("alice")
    at_alice.open_lab()
    answer = at_alice.server_api("GET", f"/contents/{ALICES_NOTE}")
    return answer.status_code == 200 and answer.json()["content"] == "from alice"


def wait_until_refused(visitor: HubClient) -> None:
    """Until alice's server refuses the visitor: at most the user servers' auth cache (and a round trip) after the
    share ended."""
    at_alice = visitor.on_behalf_of("alice")
    wait_until(
        lambda: at_alice.server_api("GET", f"/contents/{ALICES_NOTE}").status_code == 403,
        f"{visitor.username}'s access to end",
        seconds=REVOKED_WITHIN_SECONDS,
        every=1,
    )


def test_bob_redeems_alices_link_and_reads_her_files(stack, alice):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    assert not reads_alices_note(bob), "nothing shared yet"
    accepted = redeem(bob, share_code(alice))
    assert accepted.status_code == 302, accepted.text
    assert reads_alices_note(bob)


def test_mallory_who_has_no_group_with_alice_is_refused_with_a_page_that_says_why(stack, alice):
    mallory = stack.client_for().login("mallory", USER_PASSWORD)
    code = share_code(alice)
    page = mallory.session.get(f"{stack.url}/hub/accept-share?code={code}", timeout=30)
    assert page.status_code == 403
    assert "no group in common" in page.text and "SHARING=group" in page.text
    accepted = mallory.session.post(
        f"{stack.url}/hub/accept-share",
        data={"code": code, "_xsrf": mallory.hub_xsrf()},
        allow_redirects=False,
        timeout=30,
    )
    assert accepted.status_code == 403
    assert not reads_alices_note(mallory)
    assert "Share of alice's server with user mallory (by code) refused" in stack.logs()


def test_direct_shares_follow_the_same_rule(alice):
    refused = alice.api("POST", "/shares/alice/", json={"user": "mallory"})
    assert refused.status_code == 403 and "no group in common" in refused.json()["message"]
    no_one = alice.api("POST", "/shares/alice/", json={"user": "no-such-user"})
    assert no_one.json()["message"] == refused.json()["message"], "a name that is no one's tells nothing more"
    assert alice.api("POST", "/shares/alice/", json={"group": "others"}).status_code == 403
    assert alice.api("POST", "/shares/alice/", json={"group": "lab"}).status_code == 200
    assert alice.api("PATCH", "/shares/alice/", json={"group": "lab"}).status_code == 200


def test_the_home_page_lists_what_is_shared_with_me_and_my_shares(stack, alice):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    share_code(alice)
    assert alice.api("POST", "/shares/alice/", json={"user": "bob"}).status_code == 200
    bobs_home = bob.session.get(f"{stack.url}/hub/home", timeout=30).text
    assert 'id="shared-with-me"' in bobs_home and "alice's server" in bobs_home
    alices_home = alice.session.get(f"{stack.url}/hub/home", timeout=30).text
    assert 'data-kind="user"' in alices_home and 'data-name="bob"' in alices_home
    assert "share link (used" in alices_home, "the links she made, still valid"


def test_revoking_ends_bobs_access_within_the_auth_cache(stack, alice):
    bob = stack.client_for().login("bob", USER_PASSWORD)
    assert alice.api("POST", "/shares/alice/", json={"user": "bob"}).status_code == 200
    assert reads_alices_note(bob)
    revoked = alice.api("DELETE", "/shares/alice/")
    assert revoked.status_code == 204, revoked.text
    started = time.monotonic()
    wait_until_refused(bob)
    print(f"revoked share ended bob's access after {time.monotonic() - started:.1f} s")


def open_alices_notebook(browser, stack: Stack, name: str):
    """`name` logs in, in a browser context of their own, and opens alice's notebook in JupyterLab (someone else
    authorizes their access to alice's server first, as JupyterHub asks)."""
    page = browser.new_context().new_page()
    log_in(page, stack.url, name, USER_PASSWORD, next_page="/hub/home")
    page.goto(f"{stack.url}/user/alice/lab/tree/{TOGETHER}")
    if "/hub/api/oauth2/authorize" in page.url:
        page.get_by_role("button", name="Authorize").click()
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.wait_for(timeout=LAB_SECONDS * 1000)
    return page


def first_cell_shows(page, text: str) -> None:
    page.locator(".jp-Notebook .jp-Cell .cm-content", has_text=text).first.wait_for(timeout=30_000)


def test_alice_and_bob_edit_one_notebook_and_each_sees_the_others_change(stack, alice):
    notebook = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [], "execution_count": None}],
                "metadata": {"kernelspec": PYTHON3}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    made = alice.server_api("PUT", f"/contents/{TOGETHER}", json={"type": "notebook", "content": notebook})
    assert made.status_code in (200, 201), made.text
    assert alice.api("POST", "/shares/alice/", json={"user": "bob"}).status_code == 200
    with chromium() as browser:
        alices_page, bobs_page = (
            open_alices_notebook(browser, stack, "alice"),
            open_alices_notebook(browser, stack, "bob"),
        )
        alices_page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        alices_page.keyboard.type("written_by = 'alice'")
        first_cell_shows(bobs_page, "written_by = 'alice'")
        bobs_page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        bobs_page.keyboard.press("End")
        bobs_page.keyboard.type("; helped_by = 'bob'")
        first_cell_shows(alices_page, "helped_by = 'bob'")
        keep_screenshot(alices_page, "collaboration-alice-sees-bob.png")
    assert alice.api("DELETE", "/shares/alice/").status_code == 204


def test_in_a_browser_alice_makes_a_link_on_her_home_page_bob_accepts_it_and_she_revokes_it(stack, alice):
    with chromium() as browser:
        alices_home = browser.new_context().new_page()
        log_in(alices_home, stack.url, "alice", USER_PASSWORD, next_page="/hub/home")
        alices_home.get_by_role("button", name="Make a share link").click()
        shown = alices_home.locator("#share-result", has_text="/hub/accept-share?code=")
        shown.wait_for(timeout=30_000)
        link = shown.inner_text().split("(shown once): ", 1)[1].strip()

        bobs_page = browser.new_context().new_page()
        log_in(bobs_page, stack.url, "bob", USER_PASSWORD, next_page="/hub/home")
        bobs_page.goto(link)
        bobs_page.get_by_role("button", name="Accept invitation").click()
        bobs_page.wait_for_url(f"{stack.url}/user/alice/**", timeout=LAB_SECONDS * 1000)
        bobs_page.goto(f"{stack.url}/hub/home")
        assert "alice's server" in bobs_page.locator("#shared-with-me").inner_text()

        alices_home.reload()
        bobs_row = alices_home.locator("#my-shares tr", has_text="user bob")
        keep_screenshot(alices_home, "sharing-home-page.png")
        bobs_row.get_by_role("button", name="revoke").click()
        bobs_row.wait_for(state="detached", timeout=30_000)
    assert alice.api("GET", "/shares/alice").json()["items"] == []


def test_under_all_anyone_may_redeem_and_under_off_nobody(stack, alice):
    stack.change_env(SHARING="all")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    mallory = stack.client_for().login("mallory", USER_PASSWORD)
    accepted = redeem(mallory, share_code(alice))
    assert accepted.status_code == 302, accepted.text
    assert reads_alices_note(mallory)

    stack.change_env(SHARING="off")
    stack.run_compose("up", "-d", "hub")
    stack.wait_healthy()
    assert "SHARING=off: revoked 1 share(s)" in stack.logs()
    assert alice.api("POST", "/share-codes/alice/").status_code == 403
    assert alice.api("GET", "/shares/alice").json()["items"] == []
    wait_until_refused(mallory)
