"""LTI 1.3 login: settings that fail closed, the config they become (framing and cross-site cookies only with
LTI_PLATFORM_ORIGINS), what the admin pastes into the LMS, course roles as group names, assignment targets, the
checks the library leaves to the tool, the admins' password path, and the keyset read at start."""

import asyncio
import http.cookies
import http.server
import json
import threading
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from appliance.auth.lti13 import (
    CONTEXT_CLAIM,
    DEPLOYMENT_CLAIM,
    ROLES_CLAIM,
    AdminLoginHandler,
    ApplianceLTI13Authenticator,
    KeysetError,
    LaunchRefused,
    allow_partitioned_cookies,
    course_groups,
    destination_of,
    keys_in,
    wait_for_keyset,
)
from appliance.hub_config import apply
from appliance.login.lti13 import CROSS_SITE_COOKIE, registration
from appliance.settings import SettingsError, load
from tests.unit.test_spawners import SECRETS, spawner_for

LTI = {
    "AUTH_MODE": "lti13",
    "LTI_ISSUER": "https://canvas.instructure.com",
    "LTI_CLIENT_ID": "10000000000042",
    "LTI_AUTHORIZE_URL": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "LTI_JWKS_URL": "https://sso.canvaslms.com/api/lti/security/jwks",
    "PUBLIC_URL": "https://hub.school.example",
    "ALLOWED_GROUPS": "cs101-learner",
}
ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"


def configured(**environ) -> Config:
    c = Config()
    apply(load({**SECRETS, **LTI, **environ}), c)
    return c


def problems(**environ) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load({**SECRETS, **LTI, **environ})
    return {problem.name: str(problem) for problem in caught.value.problems}


def authenticator(**environ) -> ApplianceLTI13Authenticator:
    return ApplianceLTI13Authenticator(config=configured(**environ))


def launch(sub: str, label: str = "CS101", roles=("Learner",), **claims) -> dict:
    return {
        "sub": sub,
        CONTEXT_CLAIM: {"id": "course-7", "label": label},
        ROLES_CLAIM: [ROLE + role for role in roles],
        DEPLOYMENT_CLAIM: "deployment-1",
        "nonce": f"nonce-of-{sub}",
        **claims,
    }


def test_the_platforms_four_values_are_required_with_their_fix():
    found = problems(LTI_ISSUER="", LTI_CLIENT_ID="", LTI_AUTHORIZE_URL="", LTI_JWKS_URL="")
    for name in ("LTI_ISSUER", "LTI_CLIENT_ID", "LTI_AUTHORIZE_URL", "LTI_JWKS_URL"):
        assert "is required when AUTH_MODE=lti13" in found[name] and "docs/lti.md" in found[name]


def test_a_malformed_url_or_origin_names_the_setting_and_what_it_takes():
    found = problems(LTI_JWKS_URL="canvas/jwks", LTI_PLATFORM_ORIGINS="https://lms.example.edu/course/7")
    assert "must be a URL starting with http:// or https://" in found["LTI_JWKS_URL"]
    assert "scheme and host, no path" in found["LTI_PLATFORM_ORIGINS"]


def test_plain_http_is_refused_off_this_machine_and_a_public_url_is_required():
    assert "must be https:// when AUTH_MODE=lti13" in problems(PUBLIC_URL="http://hub.school.example")["PUBLIC_URL"]
    assert "is required when AUTH_MODE=lti13" in problems(PUBLIC_URL="")["PUBLIC_URL"]
    assert load({**SECRETS, **LTI, "PUBLIC_URL": "http://127.0.0.1:8000"})["AUTH_MODE"] == "lti13"


def test_it_admits_no_one_without_an_allow_rule():
    assert "lti13 mode admits no one" in problems(ALLOWED_GROUPS="")["ALLOWED_USERS"]
    assert load({**SECRETS, **LTI, "ALLOWED_GROUPS": "", "ALLOW_ALL": "true"})["ALLOW_ALL"] is True


def test_it_becomes_the_appliances_authenticator_with_the_platforms_values():
    c = configured(LTI_DEPLOYMENT_IDS="1:abc,2:def", ADMIN_GROUPS="cs101-instructor")
    lti = c.ApplianceLTI13Authenticator
    assert c.JupyterHub.authenticator_class == "appliance.auth.lti13.ApplianceLTI13Authenticator"
    assert lti.issuer == LTI["LTI_ISSUER"] and lti.client_id == {"10000000000042"}
    assert lti.jwks_endpoint == LTI["LTI_JWKS_URL"] and lti.authorize_url == LTI["LTI_AUTHORIZE_URL"]
    assert lti.username_key == "sub", "a stable ID, not a display name"
    assert lti.deployment_ids == {"1:abc", "2:def"} and lti.admin_groups == {"cs101-instructor"}
    assert lti.manage_groups is True and lti.uri_scheme == "https"


def test_without_platform_origins_nothing_may_frame_the_hub_and_cookies_stay_same_site():
    c = configured()
    assert "headers" not in c.JupyterHub.tornado_settings, "JupyterHub's own frame-ancestors 'none' stays"
    assert "cookie_options" not in c.JupyterHub.tornado_settings
    assert "APPLIANCE_CONTENT_SECURITY_POLICY" not in c.Spawner.environment
    assert any("new tab" in line for line in registration(load({**SECRETS, **LTI})))


def test_platform_origins_may_frame_the_hub_and_the_servers_with_cross_site_cookies():
    c = configured(LTI_PLATFORM_ORIGINS="https://canvas.school.example,https://moodle.school.example")
    policy = "frame-ancestors 'self' https://canvas.school.example https://moodle.school.example"
    assert c.JupyterHub.tornado_settings["headers"]["Content-Security-Policy"] == policy
    assert c.JupyterHub.tornado_settings["cookie_options"] == {"samesite": "None", "secure": True, "partitioned": True}
    assert c.JupyterHub.tornado_settings["slow_spawn_timeout"] == 1, "the hub's other tornado settings stay"
    assert c.Spawner.environment["APPLIANCE_CONTENT_SECURITY_POLICY"] == policy


def test_servers_get_the_hubs_cookie_options_but_partitioned_which_older_pythons_cannot_write():
    spawner = spawner_for(
        {**LTI, "LTI_PLATFORM_ORIGINS": "https://lms.example"}, 8888, cookie_options=CROSS_SITE_COOKIE
    )
    assert json.loads(spawner.get_env()["JUPYTERHUB_COOKIE_OPTIONS"]) == {"samesite": "None", "secure": True}


def test_the_registration_lists_what_to_paste_into_the_lms():
    lines = "\n".join(registration(load({**SECRETS, **LTI})))
    assert "OpenID Connect login initiation URL: https://hub.school.example/hub/lti13/oauth_login" in lines
    assert "Redirect URI: https://hub.school.example/hub/lti13/oauth_callback" in lines
    assert "https://hub.school.example/hub/lti13/config" in lines
    assert "Admins' password login: https://hub.school.example/hub/admin-login" in lines


def test_course_roles_become_stable_group_names():
    claims = launch("u1", label="CS 101 (Fall)", roles=("Instructor", "Instructor#TeachingAssistant", "Learner"))
    claims[ROLES_CLAIM][1] = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
    claims[ROLES_CLAIM].append("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student")
    assert course_groups(claims) == ["cs-101-fall-instructor", "cs-101-fall-learner", "cs-101-fall-teachingassistant"]
    assert course_groups({**claims, CONTEXT_CLAIM: {"id": "8f2a-77"}}) == [
        "8f2a-77-instructor",
        "8f2a-77-learner",
        "8f2a-77-teachingassistant",
    ]
    assert course_groups({ROLES_CLAIM: claims[ROLES_CLAIM]}) == [], "no course, no groups"


@pytest.mark.parametrize(
    ("target", "destination"),
    [
        ("work/lab 1.ipynb", "lab/tree/work/lab%201.ipynb"),
        ("assignments/", "lab/tree/assignments/"),
        (
            "git-pull?repo=https%3A%2F%2Fgit.example%2Fc&urlpath=lab",
            "git-pull?repo=https%3A%2F%2Fgit.example%2Fc&urlpath=lab",
        ),
        ("/hub/user-redirect/git-pull?repo=x", "git-pull?repo=x"),
    ],
)
def test_a_target_is_a_path_in_the_home_or_an_nbgitpuller_link(target, destination):
    assert destination_of(target) == destination


@pytest.mark.parametrize(
    "target", ["/etc/passwd", "../bob/secret.ipynb", "work/../../x", "a?b=1", "https://evil.example/"]
)
def test_any_other_target_is_refused(target):
    with pytest.raises(ValueError, match="neither a path in the home"):
        destination_of(target)


def test_a_launch_from_another_deployment_or_seen_before_is_refused():
    lti = authenticator(LTI_DEPLOYMENT_IDS="deployment-1")
    lti.check_launch(launch("ada"))
    with pytest.raises(LaunchRefused, match="used before"):
        lti.check_launch(launch("ada"))
    with pytest.raises(LaunchRefused) as refused:
        lti.check_launch(launch("bob", **{DEPLOYMENT_CLAIM: "deployment-9"}))
    assert "placement of the tool" in refused.value.jupyterhub_message


def test_a_launch_becomes_a_user_with_groups_and_admin_groups_make_admins():
    lti = authenticator(ADMIN_GROUPS="cs101-instructor")
    ada = asyncio.run(lti.authenticate(None, launch("Ada")))
    assert ada == {"name": "ada", "groups": ["cs101-learner"], "admin": False}
    ines = asyncio.run(lti.authenticate(None, launch("ines", roles=("Instructor",))))
    assert ines["admin"] is True
    assert lti.check_allowed("ada", ada) and lti.check_allowed("ines", ines)
    assert not lti.check_allowed("mal", {"groups": ["hist200-learner"]})


def test_between_launches_a_session_lasts_while_the_allow_rules_admit_its_last_groups():
    lti = authenticator(ADMIN_USERS="admin")
    ada = SimpleNamespace(name="ada", groups=[SimpleNamespace(name="cs101-learner")])
    assert asyncio.run(lti.refresh_user(ada)) is True
    lti.allowed_groups = {"cs102-learner"}
    assert asyncio.run(lti.refresh_user(ada)) is False
    assert asyncio.run(lti.refresh_user(SimpleNamespace(name="admin", groups=[]))) is True
    lti.allowed_users = set()
    assert asyncio.run(lti.refresh_user(SimpleNamespace(name="admin", groups=[]))) is False


def test_a_launch_cannot_log_in_as_a_password_admin():
    lti = authenticator(ADMIN_USERS="admin,root")
    with pytest.raises(LaunchRefused) as refused:
        asyncio.run(lti.authenticate(None, launch("root", roles=("Administrator",))))
    assert refused.value.status_code == 403


def test_the_admins_password_path_takes_only_admins_with_the_password():
    lti = authenticator(ADMIN_USERS="admin")
    lti.admin_password = "the-admins-password-0123456789"
    handler = object.__new__(AdminLoginHandler)
    good = asyncio.run(lti.authenticate(handler, {"username": "admin", "password": lti.admin_password}))
    assert good == {"name": "admin", "admin": True, "groups": None}
    assert asyncio.run(lti.authenticate(handler, {"username": "admin", "password": "wrong"})) is None
    assert asyncio.run(lti.authenticate(handler, {"username": "ada", "password": lti.admin_password})) is None
    lti.admin_password = ""
    assert asyncio.run(lti.authenticate(handler, {"username": "admin", "password": ""})) is None


def test_cookies_can_be_partitioned():
    allow_partitioned_cookies()
    cookie = http.cookies.SimpleCookie()
    cookie["state"] = "x"
    cookie["state"]["partitioned"] = True
    assert cookie["state"].OutputString().endswith("; Partitioned")


@pytest.fixture
def keyset_server():
    answers = {}

    class Keyset(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = answers[self.path]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keyset)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", answers
    server.shutdown()


def test_the_keyset_is_read_and_what_is_not_one_is_named(keyset_server):
    url, answers = keyset_server
    answers["/jwks"] = (200, json.dumps({"keys": [{"kty": "RSA", "kid": "a"}, {"kty": "RSA", "kid": "b"}]}).encode())
    answers["/empty"] = (200, b'{"keys": []}')
    answers["/gone"] = (404, b"")
    assert keys_in(f"{url}/jwks") == 2
    with pytest.raises(KeysetError, match="not a keyset with keys"):
        keys_in(f"{url}/empty")
    with pytest.raises(KeysetError, match="HTTP 404"):
        keys_in(f"{url}/gone")


def test_the_start_waits_a_bounded_time_for_the_keyset_then_names_the_setting(keyset_server):
    url, answers = keyset_server
    answers["/gone"] = (404, b"")
    now, said = [0.0], []

    def pause(seconds):
        now[0] += seconds

    with pytest.raises(KeysetError) as failed:
        wait_for_keyset(f"{url}/gone", 10, said.append, clock=lambda: now[0], pause=pause)
    assert "LTI_JWKS_URL=" in str(failed.value) and "tried 6 times in 10 s" in str(failed.value)
    assert len(said) == 5 and "attempt 1" in said[0]
