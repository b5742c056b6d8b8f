"""Log in from the course (AUTH_MODE=lti13) against the tests' own learning platform: a learner's launch lands in
JupyterLab at the assignment with the server started; course roles become groups, and an instructor helps a learner
through ASSISTANT_GROUPS; every bad launch gets a page that says why and a log line, and the hub stays up; admins
log in with their password at their own page; the course page shows the hub inside its frame."""

from urllib.parse import urlencode

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness.compose import RUN_ID, TEST_RUN_LABEL, doctor, free_port
from harness.credentials import ADMIN_PASSWORD
from harness.hub_client import HubClient
from tests.e2e.browser import LAB_SECONDS, chromium_allowing_third_party_cookies, keep_screenshot
from tests.e2e.lti_platform import LtiPlatform, browser_like, build_image

ASSIGNMENT = "work/lab 1.ipynb"


@pytest.fixture(scope="module")
def platform(docker_client):
    build_image(docker_client)
    platform = LtiPlatform(f"lms-{RUN_ID}", free_port(), {TEST_RUN_LABEL: RUN_ID})
    yield platform
    platform.stop()


@pytest.fixture(scope="module")
def stack(stack_factory, platform):
    hub_port = free_port()
    return stack_factory(
        {
            **platform.settings,
            "HUB_PORT": str(hub_port),
            "PUBLIC_URL": f"http://127.0.0.1:{hub_port}",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ALLOWED_GROUPS": "cs101-learner,cs101-instructor",
            "ADMIN_GROUPS": "cs101-administrator",
            "ASSISTANT_GROUPS": "cs101-instructor:cs101-learner",
            "LTI_DEPLOYMENT_IDS": "deployment-1",
            "LTI_PLATFORM_ORIGINS": platform.issuer,
        },
        before_start=lambda stack: platform.start(stack.network),
    )


@pytest.fixture(scope="module")
def admin(stack) -> HubClient:
    admin = browser_like(stack.client_for())
    answer = admin.post_form("/hub/admin-login", {"username": "admin", "password": ADMIN_PASSWORD})
    assert answer.status_code == 302, answer.text
    admin.username = "admin"
    return admin


@pytest.fixture(scope="module")
def ada(stack, platform) -> HubClient:
    """A learner, launched from the assignment: through the spawn page, which starts her server, into JupyterLab."""
    ada = stack.client_for()
    landing = platform.launch(ada, "ada", custom={"target": ASSIGNMENT}).headers["Location"]
    assignment = "/user/ada/lab/tree/work/lab%201.ipynb"
    assert landing == "/hub/spawn/ada?" + urlencode({"next": assignment})
    page = ada.session.get(f"{stack.url}{landing}", timeout=LAB_SECONDS)
    if "/hub/spawn-pending/ada" in page.url:  # its script waits for the server, then goes on to `next`
        ada.follow_progress()
        page = ada.session.get(f"{stack.url}{assignment}", timeout=LAB_SECONDS)
    assert page.status_code == 200 and page.url == f"{stack.url}{assignment}", page.url
    return ada


def test_a_learner_lands_in_jupyterlab_at_the_assignment_and_runs_code(stack, ada):
    assert ada.whoami() == "ada"
    assert ada.server_model()["ready"]
    assert ada.run_once("print(6 * 7)") == "42"


def test_the_course_roles_are_groups_and_an_instructor_helps_a_learner(stack, platform, ada, admin):
    ines = stack.client_for()
    platform.launch(ines, "ines", roles=["Instructor"])
    groups = {group["name"]: group["users"] for group in admin.api("GET", "/groups").json()}
    assert groups["cs101-learner"] == ["ada"] and groups["cs101-instructor"] == ["ines"]
    assert admin.api("GET", "/users/ines").json()["admin"] is False
    for_ada = ines.on_behalf_of("ada")
    assert for_ada.open_lab().status_code == 200
    assert for_ada.run_once("import os; print(os.environ['JUPYTERHUB_USER'])", "ines-was-here.ipynb") == "ada"
    assert ines.api("GET", "/users/ada").status_code == 200
    assert ines.api("GET", "/users/admin").status_code in (403, 404)


def test_a_link_whose_target_link_uri_carries_next_lands_there(stack, platform):
    # Canvas: an External Tool assignment's URL, which the launch carries as its target_link_uri.
    link = f"{stack.url}/hub/?next=/hub/user-redirect/lab/tree/work"
    landing = platform.launch(stack.client_for(), "max", target_link_uri=link).headers["Location"]
    assert landing == "/hub/user-redirect/lab/tree/work"


def test_an_initiation_without_the_client_takes_the_one_registered(stack, platform):
    assert platform.launch(stack.client_for(), "noa", initiation_without_client=True).status_code == 302


def test_an_admin_group_of_the_course_makes_hub_admins(stack, platform, admin):
    dean = stack.client_for()
    platform.launch(dean, "dean", roles=["Administrator"])
    assert admin.api("GET", "/users/dean").json()["admin"] is True
    assert dean.session.get(f"{stack.url}/hub/admin", timeout=30).status_code == 200


BAD_LAUNCHES = {
    "wrong signature": {"fault": "signature"},
    "unknown issuer in the token": {"iss": "http://elsewhere.example"},
    "unknown issuer at initiation": {"initiation_iss": "http://elsewhere.example"},
    "unknown client": {"client_id": "someone-elses-tool"},
    "another audience": {"aud": "someone-elses-tool"},
    "expired token": {"age": 900},
    "missing roles": {"omit": ["roles"]},
    "missing version": {"omit": ["version"]},
    "deployment not taken": {"deployment_id": "deployment-9"},
    "a target outside the home": {"custom": {"target": "../../etc/passwd"}},
    "a course that is not allowed": {"course": {"id": "c2", "label": "HIST200"}},
    "a password admin's name": {"sub": "admin", "roles": ["Administrator"]},
}


@pytest.mark.parametrize("fault", BAD_LAUNCHES)
def test_a_bad_launch_gets_a_page_that_says_why_and_the_hub_stays_up(stack, platform, fault):
    tracebacks = stack.logs().count("Traceback")
    launch = dict(BAD_LAUNCHES[fault])
    _, answer = platform.launch_attempt(stack.client_for(), launch.pop("sub", "mal"), **launch)
    assert answer.status_code in (400, 403), f"{fault}: HTTP {answer.status_code}"
    assert "This launch was refused" in answer.text, answer.text[:2000]
    assert "Traceback" not in answer.text
    assert stack.logs().count("Traceback") == tracebacks
    assert stack.client_for().session.get(f"{stack.url}/hub/health", timeout=10).status_code == 200


def test_a_refused_launch_is_one_log_line_that_says_why(stack, platform):
    platform.launch_attempt(stack.client_for(), "mal", fault="signature")
    refusals = [line for line in stack.logs().splitlines() if "LTI launch refused" in line]
    assert any("Signature verification failed" in line or "signature" in line.lower() for line in refusals), refusals


def test_a_replayed_launch_is_refused(stack, platform):
    kim = browser_like(stack.client_for())
    callback, fields = platform.launch_form(kim, "kim")
    cookies = kim.session.cookies.copy()
    assert kim.session.post(callback, data=fields, allow_redirects=False, timeout=30).status_code == 302
    # The same form, with the same cookies: as someone who captured both would send it.
    kim.session.cookies = cookies
    replay = kim.session.post(callback, data=fields, allow_redirects=False, timeout=30)
    assert replay.status_code == 400 and "it was used before" in replay.text
    # Without the cookies, the library's own check refuses it too.
    stranger = browser_like(stack.client_for())
    assert stranger.session.post(callback, data=fields, allow_redirects=False, timeout=30).status_code == 400


def test_admins_log_in_with_their_password_at_their_own_page_limited_as_elsewhere(stack):
    login = stack.client_for().session.get(f"{stack.url}/hub/login", timeout=30)
    assert "Log in from your course" in login.text and "/hub/admin-login" in login.text
    mallory = browser_like(stack.client_for())
    answers = [
        mallory.post_form("/hub/admin-login", {"username": "ghost", "password": "not-it"}).status_code for _ in range(6)
    ]
    assert answers == [403] * 5 + [429], answers
    someone = browser_like(stack.client_for())
    wrong = someone.post_form("/hub/admin-login", {"username": "admin", "password": ADMIN_PASSWORD + "x"})
    assert wrong.status_code == 403


def test_the_hub_tells_what_to_paste_into_the_lms(stack):
    for shown in (stack.logs(), stack.run_compose("exec", "-T", "hub", "appliance", "check")):
        assert f"OpenID Connect login initiation URL: {stack.url}/hub/lti13/oauth_login" in shown
        assert f"Redirect URI: {stack.url}/hub/lti13/oauth_callback" in shown
    _, rows, report = doctor(stack)
    assert rows["auth"] == "PASS", report


def test_only_the_lms_may_frame_the_hub_and_the_servers(stack, platform, ada):
    for url in (f"{stack.url}/hub/login", f"{stack.url}/user/ada/lab"):
        policy = ada.session.get(url, timeout=30).headers["Content-Security-Policy"]
        assert policy.startswith(f"frame-ancestors 'self' {platform.issuer}"), (url, policy)


@pytest.fixture(scope="module")
def browser(platform):
    # The course page is on the platform's name, as the hub knows it: another site than the hub's.
    with chromium_allowing_third_party_cookies(f"--host-resolver-rules=MAP {platform.name} 127.0.0.1") as browser:
        yield browser


def test_in_a_real_browser_the_course_page_shows_jupyterlab_in_its_frame(stack, platform, browser):
    page = browser.new_page()
    course = f"{platform.issuer}/course?launch=" + platform.launch_query(
        stack.client_for(), "lea", custom={"target": "work/from-the-course.ipynb"}
    )
    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.on("console", lambda message: visited.append(f"console: {message.text}"))
    page.goto(course)
    try:
        page.frame_locator("#tool").locator("#jp-main-dock-panel").wait_for(timeout=LAB_SECONDS * 1000)
    except PlaywrightTimeout:
        raise AssertionError(f"no JupyterLab in the course's frame; the frames went: {visited}") from None
    finally:
        keep_screenshot(page, "lti-launch-in-a-frame.png")
    tool = page.frames[1]
    assert tool.url.startswith(f"{stack.url}/user/lea/lab/tree/work/from-the-course.ipynb"), tool.url
