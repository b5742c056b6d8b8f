"""LTI 1.3 mode's authenticator: jupyterhub-ltiauthenticator's, with what the appliance adds to it
(appliance.login.lti13 configures it):

- a launch lands where its `target` custom parameter says (a path in the home, or an nbgitpuller link), the
  server started on the way;
- the launch's course and roles become JupyterHub groups, which ALLOWED_GROUPS and ADMIN_GROUPS name;
- a bad launch gets a page that says why and one log line, never a traceback; a replayed launch, one from
  another issuer or client, or from a deployment not in LTI_DEPLOYMENT_IDS is refused;
- the launch's state cookies cross sites (the LMS posts the launch, maybe in its frame): SameSite=None, Secure and
  Partitioned;
- admins (ADMIN_USERS) log in with ADMIN_PASSWORD at their own page, failed logins limited as in the password
  modes; a launch cannot log in as one of them.
"""

import asyncio
import hmac
import http.cookies
import re
import time
from collections.abc import Callable
from urllib.parse import quote

import requests
from cachetools import TTLCache
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import url_path_join
from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.constants import LTI13_CUSTOM_CLAIM
from ltiauthenticator.lti13.error import LoginError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler
from ltiauthenticator.utils import convert_request_to_dict
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Set, Unicode

from appliance.auth.password_login import PasswordLogin
from appliance.auth.waiting import retried_for
from appliance.login.lti13 import ADMIN_LOGIN_PATH, CROSS_SITE_COOKIE, TARGET_PARAMETER

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
CONTEXT_CLAIM = CLAIM + "context"
ROLES_CLAIM = CLAIM + "roles"
DEPLOYMENT_CLAIM = CLAIM + "deployment_id"
# The LIS vocabulary's context (course) roles: ...membership#Instructor, ...membership/Instructor#TeachingAssistant.
MEMBERSHIP_ROLE = re.compile(r"^http://purl\.imsglobal\.org/vocab/lis/v2/membership(/[A-Za-z]+)?#([A-Za-z]+)$")
# Launches are taken within this many seconds of being issued (ltiauthenticator's max_age); a nonce is kept as long.
NONCE_SECONDS = 600
ASK_AGAIN = "Open the assignment again from your course's page; if that fails too, tell your teacher."
LOGIN_PAGE = """<div class="service-login">
<h2>Log in from your course</h2>
<p>This hub is opened from your course's page in the learning platform (its JupyterHub link or assignment).</p>
<p><a href="{admin_login}">Admins: log in with the admin password</a></p>
</div>"""


def allow_partitioned_cookies() -> None:
    """CHIPS' `Partitioned` cookie attribute, which http.cookies writes from Python 3.14 on: browsers keep the
    cookies of a site inside another's frame (and soon of a cross-site launch) only when they are partitioned."""
    if "partitioned" not in http.cookies.Morsel._reserved:  # type: ignore[attr-defined]
        http.cookies.Morsel._reserved["partitioned"] = "Partitioned"  # type: ignore[attr-defined]
        http.cookies.Morsel._flags.add("partitioned")  # type: ignore[attr-defined]


class KeysetError(Exception):
    """The LMS's keyset cannot be read, or holds no keys."""


def keys_in(url: str, timeout: float = 10) -> int:
    """How many keys the LMS's JSON Web Key Set holds."""
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise KeysetError(f"cannot be reached ({error.__class__.__name__}: {error})") from None
    if response.status_code != 200:
        raise KeysetError(f"answered HTTP {response.status_code} at {url}")
    try:
        keys = response.json().get("keys")
    except (ValueError, AttributeError):
        keys = None
    if not isinstance(keys, list) or not keys:
        raise KeysetError(f"answered something that is not a keyset with keys at {url}")
    return len(keys)


def wait_for_keyset(
    url: str,
    seconds: float,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """The number of keys, retrying for a bounded time: the LMS may be restarting when the hub starts."""
    advice = "Check the URL and that the hub can reach the LMS."
    return retried_for(seconds, lambda: keys_in(url), KeysetError, ("LTI_JWKS_URL", url), advice, report, clock, pause)


def group_name(text: str) -> str:
    """Lower case letters, digits, '.', '_' and '-', the rest made '-': the same name at every launch."""
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-")[:100]


def course_groups(claims: dict) -> list[str]:
    """`<course>-<role>` for each course role of the launch, the course by its label (or its ID)."""
    context = claims.get(CONTEXT_CLAIM) or {}
    course = group_name(str(context.get("label") or context.get("id") or ""))
    if not course:
        return []
    roles = claims.get(ROLES_CLAIM) or []
    matched = (MEMBERSHIP_ROLE.match(role) for role in roles if isinstance(role, str))
    names = {f"{course}-{group_name(match.group(2))}" for match in matched if match}
    return sorted(names)


def destination_of(target: str) -> str:
    """A launch's target as a path under the user's server: JupyterLab at a path in the home, or nbgitpuller's
    link. Raises ValueError for anything else (an absolute path, `..`, a query on a path)."""
    target = target.strip()
    pull = re.fullmatch(r"(?:/?hub/user-redirect/|/?user-redirect/)?git-pull\?(.+)", target)
    if pull:
        return f"git-pull?{pull.group(1)}"
    parts = target.split("/")
    odd = re.search(r"[?#\\\x00-\x1f]|://", target)
    if not target or target.startswith("/") or ".." in parts or odd:
        raise ValueError(f"{target!r} is neither a path in the home (such as work/lab1.ipynb) nor a git-pull link")
    return f"lab/tree/{quote(target)}"


class LaunchRefused(web.HTTPError):
    """400, with a page that says why the launch was refused and what to do."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(status, "LTI launch refused: %s", reason)
        self.jupyterhub_message = f"This launch was refused: {reason}. {ASK_AGAIN}"


class ApplianceLoginInitHandler(LTI13LoginInitHandler):
    """The LMS's login initiation, from the issuer and client configured only."""

    def post(self):
        args = convert_request_to_dict(self.request.arguments)
        if args.get("iss") and args["iss"] != self.authenticator.issuer:
            self.log.warning("LTI login initiation from an unknown issuer %r refused", args["iss"][:200])
            raise LaunchRefused("it came from a learning platform this hub does not know")
        if args.get("client_id") and args["client_id"] not in self.authenticator.client_id:
            self.log.warning("LTI login initiation for an unknown client %r refused", args["client_id"][:200])
            raise LaunchRefused("the learning platform named a tool registration this hub does not know")
        if not args.get("client_id") and len(self.authenticator.client_id) == 1:
            # The initiation may leave the client out (LTI 1.3 makes it optional); the library would ask for "None".
            (only,) = self.authenticator.client_id
            self.request.arguments["client_id"] = [only.encode()]
        return super().post()

    get = post

    def _set_oauth_cookie(self, key: str, value):
        # The launch comes back as a POST from the LMS's site (in its frame, maybe): only such cookies come with it.
        self._set_cookie(key, value, expires_days=1, httponly=True, encrypted=True, **CROSS_SITE_COOKIE)


class ApplianceCallbackHandler(LTI13CallbackHandler):
    """The launch (the LMS's form post of the signed id_token): checked, logged in, sent to its target."""

    async def post(self):
        claims = await self.checked_claims()
        destination = self.destination(claims)
        try:
            user = await self.login_user(claims)
        except LoginError as error:
            self.log.warning("LTI launch refused: %s", error)
            raise LaunchRefused("it did not say who you are") from None
        if user is None:
            raise LaunchRefused("your account is not allowed on this hub; ask the hub's admins", status=403)
        if not destination:
            self.redirect(self.get_next_url(user))
            return
        # Through the spawn page, which starts the server (or goes straight on when it runs).
        spawn = url_path_join(self.hub.base_url, "spawn", user.escaped_name)
        self.redirect(url_concat(spawn, {"next": user.url + destination}))

    async def checked_claims(self) -> dict:
        """The launch's claims once every check passed; else a LaunchRefused with one log line."""
        try:
            # The library fetches the LMS's keyset at every launch, and waits for it: in a thread, so that a slow LMS
            # does not hold up the hub's event loop (a class launching at once).
            claims = await asyncio.to_thread(self.decode_and_validate_launch_request)
            self.authenticator.check_launch(claims)
        except LaunchRefused:
            raise
        except web.HTTPError as error:
            self.log.warning("LTI launch refused: %s", error.log_message)
            raise LaunchRefused(str(error.log_message)) from None
        except Exception as error:  # the library's and PyJWT's errors, and KeyErrors of missing claims
            self.log.warning("LTI launch refused: %s: %s", error.__class__.__name__, error)
            raise LaunchRefused(f"{error.__class__.__name__}: {error}") from None
        return claims

    def destination(self, claims: dict) -> str:
        """Where the launch's `target` custom parameter sends the user in their server ("": the hub's default)."""
        target = (claims.get(LTI13_CUSTOM_CLAIM) or {}).get(TARGET_PARAMETER)
        if not target:
            return ""
        try:
            return destination_of(str(target))
        except ValueError as error:
            self.log.warning("LTI launch refused: a bad target: %s", error)
            raise LaunchRefused(f"the assignment's link is wrong ({error}); tell your teacher") from None

    def _get_oauth_cookie(self, name: str):
        cookie = (self.get_secure_cookie(name) or b"").decode("utf8", "replace")
        self.clear_cookie(name, **CROSS_SITE_COOKIE)
        return cookie


class AdminLoginHandler(LoginHandler):
    """ADMIN_LOGIN_PATH: JupyterHub's password form, for the admins (ADMIN_USERS) with ADMIN_PASSWORD."""

    def _render(self, login_error=None, username=None, **kwargs):
        next_url = self.get_argument("next", default="")
        return self.render_template(
            "login.html",
            next=url_escape(next_url),
            username=username,
            login_error=login_error,
            login_url=self.settings["login_url"],
            authenticator_login_url=url_concat(self.request.path, {"next": next_url} if next_url else {}),
            authenticator=self.authenticator,
            xsrf=self.xsrf_token.decode("ascii"),
            custom_html="",
            login_service=None,
            **kwargs,
        )


class ApplianceLTI13Authenticator(PasswordLogin, LTI13Authenticator):
    login_handler = ApplianceLoginInitHandler
    callback_handler = ApplianceCallbackHandler

    deployment_ids = Set(Unicode(), config=True, help="The deployments whose launches are taken; empty: all.")
    allowed_groups = Set(Unicode(), config=True, help="Groups (from the launch's course roles) that may log in.")
    admin_groups = Set(Unicode(), config=True, help="Groups (from the launch's course roles) of hub admins.")
    admin_password = Unicode("", config=True, help="The admins' password, at ADMIN_LOGIN_PATH.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allow_partitioned_cookies()
        self.used_nonces: TTLCache = TTLCache(maxsize=100_000, ttl=NONCE_SECONDS)

    def get_handlers(self, app):
        return [*super().get_handlers(app), (ADMIN_LOGIN_PATH.removeprefix("/hub/"), AdminLoginHandler)]

    def get_custom_html(self, base_url):
        return LOGIN_PAGE.format(admin_login=url_path_join(base_url, ADMIN_LOGIN_PATH.removeprefix("/hub/")))

    def check_launch(self, claims: dict) -> None:
        """What the library leaves to the tool: the deployment, and a launch seen before."""
        deployment = claims.get(DEPLOYMENT_CLAIM)
        if self.deployment_ids and deployment not in self.deployment_ids:
            self.log.warning("LTI launch from deployment %r refused: not in LTI_DEPLOYMENT_IDS", deployment)
            raise LaunchRefused("it came from a placement of the tool that this hub does not take")
        nonce = claims.get("nonce")
        if nonce in self.used_nonces:
            self.log.warning("LTI launch refused: its nonce was used before (a replayed launch)")
            raise LaunchRefused("it was used before")
        self.used_nonces[nonce] = True

    async def get_authenticated_user(self, handler, data):
        """The admins' password logins are limited (PasswordLogin); launches are not passwords."""
        if isinstance(handler, AdminLoginHandler):
            return await super().get_authenticated_user(handler, data)
        return await super(PasswordLogin, self).get_authenticated_user(handler, data)

    async def authenticate(self, handler, data=None):
        if isinstance(handler, AdminLoginHandler):
            return self.admin_password_matches(data or {})
        claims = data or {}
        name = self.normalize_username(self.get_username(claims))
        if name in self.admin_users:
            # The password admins' accounts are not the LMS's to hand out (a user whose login claim is "admin").
            self.log.warning("LTI launch refused: its user name %r is one of ADMIN_USERS", name)
            raise LaunchRefused("your name on the learning platform is one of this hub's admin accounts", 403)
        groups = course_groups(claims)
        return {"name": name, "groups": groups, "admin": bool(self.admin_groups & set(groups))}

    def admin_password_matches(self, data: dict) -> dict | None:
        name = self.normalize_username(str(data.get("username", "")))
        matches = hmac.compare_digest(str(data.get("password", "")).encode(), self.admin_password.encode())
        if not (self.admin_password and matches and name in self.admin_users):
            return None
        return {"name": name, "admin": True, "groups": None}  # groups None: theirs stay as they are

    def check_allowed(self, username, authentication=None):
        if self.allow_all or username in self.allowed_users:
            return True
        groups = set((authentication or {}).get("groups") or ())
        return bool(groups & (self.allowed_groups | self.admin_groups))

    async def refresh_user(self, user, handler=None, **kwargs):
        """Between launches the platform cannot be asked again; the allow rules are, with the groups of the user's
        last launch: narrowing ALLOWED_GROUPS, or taking a name out of ADMIN_USERS, ends those sessions."""
        if self.check_allowed(user.name, {"groups": [group.name for group in user.groups]}):
            return True
        self.log.info("%s is no longer allowed to log in: their session ends", user.name)
        return False
