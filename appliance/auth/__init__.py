"""Login: one module per mode, each with its configure function, and the allow rules they share."""

from traitlets.config import Config

from appliance.auth.github import configure_github
from appliance.auth.ldap import configure_ldap
from appliance.auth.native import configure_native
from appliance.auth.oidc import configure_oidc
from appliance.auth.password import configure_password
from appliance.settings import Settings

CONFIGURE_MODE = {
    "password": configure_password,
    "native": configure_native,
    "github": configure_github,
    "oidc": configure_oidc,
    "ldap": configure_ldap,
}


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
    CONFIGURE_MODE[settings["AUTH_MODE"]](settings, c)
