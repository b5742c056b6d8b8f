"""What the OAuth login modes (github, oidc) share: a provider that refuses the hub's credentials is named
in the log with the settings to check, and the user sees an error page, not a server error."""

from tornado import web
from tornado.httpclient import HTTPClientError


class NamesSettingsWhenRefused:
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
