"""Password mode: the admins' password, and one password shared by every user in ALLOWED_USERS."""

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from traitlets.config import Config

from appliance.auth.password_login import PasswordLogin
from appliance.settings import Settings


class ApplianceSharedPasswordAuthenticator(PasswordLogin, SharedPasswordAuthenticator):
    """JupyterHub's shared-password login, with failed logins limited."""


def configure_password(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.password.ApplianceSharedPasswordAuthenticator"
    c.SharedPasswordAuthenticator.admin_password = settings["ADMIN_PASSWORD"]
    c.SharedPasswordAuthenticator.user_password = settings["USER_PASSWORD"]
