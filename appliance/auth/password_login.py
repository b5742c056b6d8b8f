"""What every login mode that takes a password shares: failed logins are limited, and a session lasts only
while its user is still allowed."""

import datetime

from jupyterhub.auth import Authenticator
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Integer

from appliance.auth.failed_logins import FailedLogins

HELD_BACK_BY = {
    "name": "for this user name from your address",
    "address": "from your address",
    "sign-up": "from your address",
}


class TooManyFailedLogins(web.HTTPError):
    """429, with Retry-After, and a page that says when to try again."""

    def __init__(self, seconds: int, kind: str, what: str = "failed logins"):
        super().__init__(429, f"refused for {seconds} s: too many {what} {HELD_BACK_BY[kind]}")
        self.headers = {"Retry-After": str(seconds)}
        self.jupyterhub_message = (
            f"Too many {what} {HELD_BACK_BY[kind]}. Try again in {in_words(seconds)} "
            f"(at {datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds):%H:%M} UTC)."
        )


def in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


class PasswordLogin(Authenticator):
    """A base for password authenticators (put it first among the bases)."""

    name_login_attempts = Integer(
        5, config=True, help="Failed logins of one user name, within lockout_seconds, that lock it."
    )
    address_login_attempts = Integer(
        30, config=True, help="Failed logins from one client address, within lockout_seconds, that lock it."
    )
    lockout_seconds = Integer(300, config=True, help="How long a user name or an address stays locked.")

    _failed_logins: FailedLogins | None = None

    @property
    def failed_logins(self) -> FailedLogins:
        if self._failed_logins is None:
            limits = self.name_login_attempts, self.address_login_attempts, self.lockout_seconds
            self._failed_logins = FailedLogins(*limits)
        return self._failed_logins

    async def get_authenticated_user(self, handler, data):
        name = self.normalize_username(str(data.get("username", "")))
        address = handler.request.remote_ip
        seconds, held_back_by = self.failed_logins.wait_seconds(name, address)
        if seconds:
            raise TooManyFailedLogins(seconds, held_back_by)
        user = await super().get_authenticated_user(handler, data)
        if user is None:
            self.failed_logins.failed(name, address)
        else:
            self.failed_logins.succeeded(name, address)
        return user

    async def refresh_user(self, user, handler=None, **kwargs):
        """A user taken off the allow list loses their session at its next refresh (auth_refresh_age)."""
        if not (await self.still_allowed(user.name) or user.name in self.admin_users):
            self.log.info("%s is no longer allowed to log in: their session ends", user.name)
            return False
        return await maybe_future(super().refresh_user(user, handler, **kwargs))

    async def still_allowed(self, name: str) -> bool:
        """Whether the allow rules still admit this user, without their password."""
        return bool(await maybe_future(self.check_allowed(name, None)))
