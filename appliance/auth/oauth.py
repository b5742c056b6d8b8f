"""What the OAuth login modes (github, oidc) share: a provider that refuses the hub's credentials is named
in the log with the settings to check, and the user sees an error page, not a server error; and a session
lasts only while the allow rules still admit its user."""

from typing import TYPE_CHECKING

from jupyterhub.utils import maybe_future
from tornado import web
from tornado.httpclient import HTTPClientError

if TYPE_CHECKING:
    from oauthenticator.oauth2 import OAuthenticator as OAuthenticatorBase
else:
    OAuthenticatorBase = object


class ProviderLogin(OAuthenticatorBase):
    """Mixin for an OAuthenticator (put it first among the bases)."""

    provider = "The login provider"
    settings_to_check = ""

    async def get_token_info(self, handler, params):
        try:
            return await super().get_token_info(handler, params)
        except (web.HTTPError, HTTPClientError) as error:
            reason = getattr(error, "log_message", None) or str(error)
            self.log.error("%s did not issue a token (%s). Check %s.", self.provider, reason, self.settings_to_check)
            if isinstance(error, web.HTTPError):
                raise
            raise web.HTTPError(
                502, f"{self.provider} refused to sign you in to this hub. Tell the hub's admins."
            ) from error

    async def refresh_user(self, user, handler=None, **kwargs):
        """With the user's stored token, the provider is asked again (every auth_refresh_age, and at once after
        a restart); a user whom the allow rules no longer admit, or who was taken out of an allowed
        organization, team or group, must log in again, and is refused."""
        refreshed = await super().refresh_user(user, handler, **kwargs)
        if not isinstance(refreshed, dict):
            return refreshed
        if not await maybe_future(self.check_allowed(refreshed["name"], refreshed)):
            self.log.info("%s is no longer allowed to log in: their session ends", user.name)
            return False
        return refreshed
