"""Login: the authenticator classes of the login modes (appliance.login declares and configures each), and the
allow rules they share."""

from traitlets.config import Config

from appliance.declarations import Settings
from appliance.login import LOGIN_MODES


def configure_auth(settings: Settings, c: Config) -> None:
    # JupyterHub admits no one by default: admins too must be on the allow list.
    admins = set(settings["ADMIN_USERS"] or ())
    c.Authenticator.admin_users = admins
    c.Authenticator.allowed_users = admins | set(settings["ALLOWED_USERS"] or ())
    # The settings are the allow list: a name taken out of ALLOWED_USERS cannot log in after the next start,
    # although the hub's database still knows it (and its volume stays).
    c.Authenticator.allow_existing_users = False
    c.PasswordLogin.name_login_attempts = settings["LOGIN_ATTEMPTS"]
    c.PasswordLogin.lockout_seconds = settings["LOCKOUT_SECONDS"]
    c.PasswordLogin.address_login_attempts = settings["ADDRESS_LOGIN_ATTEMPTS"]
    LOGIN_MODES[settings["AUTH_MODE"]].configure(settings, c)
