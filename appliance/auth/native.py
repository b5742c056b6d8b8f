"""Native mode: every user signs up with their own password, and an admin approves them
(jupyterhub-nativeauthenticator, with what the appliance fixes in it)."""

from pathlib import Path

import bcrypt
from jupyterhub.scopes import needs_scope
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native_handlers
from nativeauthenticator.orm import UserInfo
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Bool, Unicode
from traitlets.config import Config

from appliance.auth.password_login import PasswordLogin
from appliance.settings import Settings

# Our authorization-area.html, found before the authenticator's own: approval by POST forms.
TEMPLATES = Path(__file__).with_name("templates")
# bcrypt reads at most 72 bytes; bcrypt 5 refuses longer passwords with an error instead.
BCRYPT_MAX_BYTES = 72


def fits_bcrypt(password: str) -> bool:
    return len(password.encode()) <= BCRYPT_MAX_BYTES


class NativeLoginHandler(native_handlers.LoginHandler):
    """The authenticator's login page, without its statsd timer (JupyterHub 6 dropped `statsd`, so every
    login POST failed), answering a failed login with 403 as JupyterHub's own login page does, and showing
    an error raised during a login (such as a lockout's 429) on the page instead of failing to render it."""

    async def post(self):
        data = {arg: self.get_argument(arg, strip=arg == "username") for arg in self.request.body_arguments}
        data.pop("_xsrf", None)
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        username = data.get("username", "")
        self.set_status(403)
        html = await self._render(
            login_error=self.failure_message(username, data.get("password", "")), username=username
        )
        self.finish(html)

    def _render(self, login_error=None, username=None, **kwargs):
        """The login page; also for an error during a login POST, which JupyterHub renders through it with
        more arguments (`sync`, the error's own) that the authenticator's version did not take."""
        return self.render_template(
            "native-login.html",
            next=url_escape(self.get_argument("next", default="")),
            username=username,
            login_error=login_error,
            custom_html=self.authenticator.custom_html,
            login_url=self.settings["login_url"],
            enable_signup=self.authenticator.enable_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            authenticator_login_url=url_concat(
                self.authenticator.login_url(self.hub.base_url), {"next": self.get_argument("next", "")}
            ),
            **kwargs,
        )

    def failure_message(self, username: str, password: str) -> str:
        account = self.authenticator.get_user(username)
        right_password = account is not None and fits_bcrypt(password) and account.is_valid_password(password)
        if right_password and not account.is_authorized:
            return f"The account {username} waits for an admin to approve it. Ask your hub's admins."
        return "Invalid username or password."


class ApprovalHandler(native_handlers.LocalBase):
    """Approve or unapprove a sign-up: a POST from the authorization page, with its XSRF token. A plain GET,
    which a link on another site can make with the admin's cookie, changes nothing."""

    @needs_scope("admin:users")
    async def post(self, name):
        account = UserInfo.find(self.db, name)
        if account is None:
            raise web.HTTPError(404, f"no sign-up named {name}")
        UserInfo.change_authorization(self.db, name)
        self.log.info(
            "%s %s the sign-up of %s",
            self.current_user.name,
            "approved" if account.is_authorized else "unapproved",
            name,
        )
        self.redirect(f"{self.hub.base_url}authorize#{url_escape(name)}")


class DiscardHandler(native_handlers.LocalBase):
    """Discard a sign-up that is not approved, by POST only, for the same reason."""

    @needs_scope("admin:users")
    async def post(self, name):
        account = UserInfo.find(self.db, name)
        if account is not None and not account.is_authorized:
            self.db.delete(account)
            self.db.commit()
            self.log.info("%s discarded the sign-up of %s", self.current_user.name, name)
        self.redirect(f"{self.hub.base_url}authorize")


class ApplianceNativeAuthenticator(PasswordLogin, NativeAuthenticator):
    admin_initial_password = Unicode(
        "", config=True, help="Password of each admin account that does not exist yet, set when the hub starts."
    )
    approve_listed_names = Bool(
        True,
        config=True,
        help="Approve a sign-up at once when its name is in ALLOWED_USERS or ADMIN_USERS. Off in system mode, where "
        "a name is a host account: whoever signed up first would get its uid and home, so an admin approves each.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.create_admin_accounts()

    def create_admin_accounts(self) -> None:
        """Admins get an approved account with the initial password, so that no one can sign up in their name."""
        for name in sorted(self.admin_users):
            account = self.get_user(name)
            if account is None and self.admin_initial_password:
                password = bcrypt.hashpw(self.admin_initial_password.encode(), bcrypt.gensalt())
                self.db.add(UserInfo(username=name, password=password, is_authorized=True))
                self.log.info("Created the admin account %s with the initial admin password", name)
            elif account is not None and not account.is_authorized:
                self.log.warning(
                    "The admin %s cannot log in: someone signed up with that name before it was an admin, and "
                    "that sign-up is not approved. Discard it at /hub/authorize, then restart the hub.",
                    name,
                )
        self.db.commit()

    def get_authed_users(self):
        """The names whose sign-ups are approved at once (the authenticator's 'pre-authorized' users)."""
        return super().get_authed_users() if self.approve_listed_names else set()

    def check_allowed(self, username, authentication=None):
        """Approval is the allow list: names in ALLOWED_USERS and ADMIN_USERS are approved when they sign up
        (except in system mode: approve_listed_names)."""
        account = self.get_user(username)
        return account is not None and bool(account.is_authorized)

    async def authenticate(self, handler, data):
        if not fits_bcrypt(data.get("password", "")):
            return None
        return await super().authenticate(handler, data)

    def is_password_strong(self, password):
        return fits_bcrypt(password) and super().is_password_strong(password)

    def get_handlers(self, app):
        ours = {
            native_handlers.LoginHandler: NativeLoginHandler,
            native_handlers.ToggleAuthorizationHandler: ApprovalHandler,
            native_handlers.DiscardHandler: DiscardHandler,
        }
        return [(route, ours.get(handler, handler)) for route, handler in super().get_handlers(app)]


def configure_native(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.native.ApplianceNativeAuthenticator"
    c.ApplianceNativeAuthenticator.admin_initial_password = settings["ADMIN_PASSWORD"]
    c.ApplianceNativeAuthenticator.approve_listed_names = settings["SPAWNER_MODE"] != "system"
    native = c.NativeAuthenticator
    native.open_signup = settings["OPEN_SIGNUP"]
    native.minimum_password_length = settings["MIN_PASSWORD_LENGTH"]
    native.check_common_password = True
    # Failed logins are limited by the appliance itself (PasswordLogin), per name and per address, as in
    # password mode; the authenticator's own lockout counts only names and says nothing to the user.
    native.allowed_failed_logins = 0
    # Ours first; then the authenticator's own, which it adds only to JupyterHub's asynchronous templates,
    # while error pages render from the synchronous ones.
    c.JupyterHub.template_paths = [str(TEMPLATES), native_handlers.TEMPLATE_DIR]
