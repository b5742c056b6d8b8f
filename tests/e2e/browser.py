"""Headless Chromium, as this machine runs it (no sandbox as root, no background connections), and
what the browser tests share: JupyterLab opened by the spawn page, with a screenshot kept."""

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

from harness.compose import ARTIFACTS

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# How long JupyterLab may take to appear once the spawn starts.
LAB_SECONDS = 180


ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


@contextmanager
def chromium(*extra_args: str):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_allowing_third_party_cookies(*extra_args: str):
    """A browser context whose profile lets a site inside another's frame keep cookies and storage (Chrome's
    setting "Allow third-party cookies"; this Chromium blocks them unless told)."""
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        Path(profile, "Default").mkdir()
        Path(profile, "Default", "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": 0}}))
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=[*ARGS, *extra_args]
        )
        try:
            yield context
        finally:
            context.close()


def log_in(page, url: str, name: str, password: str, next_page: str = "") -> None:
    """Log in through the hub's login form; to `next_page` (a hub path) instead of the default, which starts the
    user's server and whose pending page goes on to it by itself (a page opened meanwhile could be replaced)."""
    page.goto(f"{url}/hub/login" + (f"?next={quote(next_page)}" if next_page else ""))
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.locator("#login_submit").click()
    wait_until_logged_in(page, url, name)


def is_past_login(page_url: str, hub_url: str, username: str) -> bool:
    """A hub page after the login (home, spawn, pending...) or the user's own server, which a fast spawn
    reaches straight from the login's redirects without the browser ever showing a hub page."""
    if page_url.startswith(f"{hub_url}/user/{username}/"):
        # The server's OAuth callback only redirects on (to JupyterLab): a page opened then would be replaced.
        return not page_url.startswith(f"{hub_url}/user/{username}/oauth_callback")
    hub_page = page_url.removeprefix(f"{hub_url}/hub/")
    return hub_page != page_url and not hub_page.startswith(("login", "oauth_callback", "api/oauth2/authorize"))


def wait_until_logged_in(page, hub_url: str, username: str) -> None:
    """Wait for the end of a login, whichever page it ends on; never for an intermediate page."""
    page.wait_for_url(lambda page_url: is_past_login(page_url, hub_url, username), timeout=LAB_SECONDS * 1000)


def keep_screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / name
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000


def spawn_until_lab(page, hub_url: str, username: str, screenshot_name: str) -> None:
    """From a logged-in page: the spawn page, then JupyterLab's launcher; a screenshot is kept as an artifact."""
    page.goto(f"{hub_url}/hub/spawn")
    page.wait_for_url(f"{hub_url}/user/{username}/lab**", timeout=LAB_SECONDS * 1000)
    page.locator(".jp-Launcher").wait_for(timeout=LAB_SECONDS * 1000)
    assert page.locator("#jp-main-dock-panel").is_visible()
    keep_screenshot(page, screenshot_name)
