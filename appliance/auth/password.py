"""Password mode's authenticator: JupyterHub's shared password, with failed logins limited; appliance.login.password
configures it."""

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

from appliance.auth.password_login import PasswordLogin


class ApplianceSharedPasswordAuthenticator(PasswordLogin, SharedPasswordAuthenticator):
    """JupyterHub's shared-password login, with failed logins limited."""
