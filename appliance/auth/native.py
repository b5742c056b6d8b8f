"""Native mode: every user signs up with their own password, and an admin approves them
(jupyterhub-nativeauthenticator, with what the appliance fixes in it)."""

import asyncio

import bcrypt
from jupyterhub.scopes import needs_scope
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native_handlers
from nativeauthenticator.orm import UserInfo
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Bool, Unicode

from appliance.auth.password_login import PasswordLogin, TooManyFailedLogins

# bcrypt reads at most 72 bytes; bcrypt 5 refuses longer passwords with an error instead.
BCRYPT_MAX_BYTES = 72


def fits_bcrypt(password: str) -> bool:
    return len(password.encode()) <= BCRYPT_MAX_BYTES


def new_hash(password: str) -> bytes:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt())


async def password_matches(account: UserInfo, password: str) -> bool:
    """bcrypt's check, in a thread: it takes a quarter second, which the event loop must not wait for."""
    return fits_bcrypt(password) and await asyncio.to_thread(account.is_valid_password, password)


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
            login_error=await self.failure_message(username, data.get("password", "")), username=username
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

    async def failure_message(self, username: str, password: str) -> str:
        """Only a sign-up that waits for approval is worth a second look at the password (a bcrypt check)."""
        account = self.authenticator.get_user(username)
        if account is None or account.is_authorized or not await password_matches(account, password):
            return "Invalid username or password."
        return f"The account {username} waits for an admin to approve it. Ask your hub's admins."


class NativeSignUpHandler(native_handlers.SignUpHandler):
    """The authenticator's sign-up page, with sign-ups limited per client address as failed logins are (a flood
    of sign-ups would otherwise keep the hub hashing), and the password hashed off the event loop."""

    async def post(self):
        address = self.request.remote_ip
        limits = self.authenticator.failed_logins
        seconds, kind = limits.sign_up_wait_seconds(address)
        if seconds:
            raise TooManyFailedLogins(seconds, kind, "sign-ups")
        limits.signed_up(address)
        password = self.get_body_argument("signup_password", "", strip=False)
        if fits_bcrypt(password):
            self.authenticator.prepared_hashes[password] = await asyncio.to_thread(new_hash, password)
        try:
            await super().post()
        finally:
            self.authenticator.prepared_hashes.pop(password, None)


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
        # Hashes the sign-up page made in a thread, by password, for create_user to take.
        self.prepared_hashes: dict[str, bytes] = {}
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

    def create_user(self, username, password, **kwargs):
        """As the authenticator's, with the hash the sign-up page made off the event loop, and without its
        e-mail self-approval, which the appliance does not offer."""
        username = self.normalize_username(username)
        if self.user_exists(username) or not self.validate_username(username):
            return None
        if not self.is_password_strong(password) or not self.enable_signup:
            return None
        hashed = self.prepared_hashes.pop(password, None) or new_hash(password)
        approved = bool(self.open_signup or username in self.get_authed_users())
        try:
            account = UserInfo(username=username, password=hashed, is_authorized=approved, **kwargs)
        except AssertionError:  # the authenticator's check of the e-mail address
            return None
        self.db.add(account)
        self.db.commit()
        return account

    def get_authed_users(self):
        """The names whose sign-ups are approved at once (the authenticator's 'pre-authorized' users)."""
        return super().get_authed_users() if self.approve_listed_names else set()

    def check_allowed(self, username, authentication=None):
        """Approval is the allow list: names in ALLOWED_USERS and ADMIN_USERS are approved when they sign up
        (except in system mode: approve_listed_names)."""
        account = self.get_user(username)
        return account is not None and bool(account.is_authorized)

    async def authenticate(self, handler, data):
        """The password checked in a thread, not on the hub's event loop (bcrypt takes a quarter second)."""
        username = self.normalize_username(data.get("username", ""))
        account = self.get_user(username)
        if account is None or not account.is_authorized:
            return None
        if not await password_matches(account, data.get("password", "")):
            return None
        if account.has_2fa and not account.is_valid_token(data.get("2fa")):
            return None
        return username

    def is_password_strong(self, password):
        return fits_bcrypt(password) and super().is_password_strong(password)

    def get_handlers(self, app):
        ours = {
            native_handlers.LoginHandler: NativeLoginHandler,
            native_handlers.SignUpHandler: NativeSignUpHandler,
            native_handlers.ToggleAuthorizationHandler: ApprovalHandler,
            native_handlers.DiscardHandler: DiscardHandler,
        }
        return [(route, ours.get(handler, handler)) for route, handler in super().get_handlers(app)]
