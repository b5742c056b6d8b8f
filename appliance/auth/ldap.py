"""LDAP mode's authenticator (jupyterhub-ldapauthenticator), with admin groups, group DNs as JupyterHub groups, and
a directory that cannot be reached shown as such; appliance.login.ldap configures it."""

from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn
from ldapauthenticator import LDAPAuthenticator
from tornado import web
from traitlets import List

from appliance.auth.password_login import PasswordLogin

UNREACHABLE_MESSAGE = (
    "The hub cannot reach its directory (LDAP) right now, so it cannot check your password. "
    "Try again in a few minutes; if it lasts, tell the hub's admins."
)


def group_name(dn: str) -> str:
    """The JupyterHub group of a group DN: the value of its first part (cn=staff,ou=groups,… is staff)."""
    try:
        return parse_dn(dn)[0][1]
    except (LDAPException, IndexError):
        return dn


class ApplianceLDAPAuthenticator(PasswordLogin, LDAPAuthenticator):
    """LDAPAuthenticator with failed logins limited, admin groups, groups as JupyterHub groups, and a directory
    that cannot be reached shown as such instead of a server error."""

    admin_group_dns: List[str] = List(config=True, help="Group DNs whose members are admins (also allowed to log in).")

    async def authenticate(self, handler, data):
        try:
            model = await super().authenticate(handler, data)
        except LDAPException as error:
            self.log.error(
                "The directory at LDAP_URL (%s:%s) cannot be used: %s: %s. Check LDAP_URL, LDAP_CA_CERT and that "
                "the directory runs.",
                self.server_address, self.server_port, error.__class__.__name__, error,
            )  # fmt: skip
            raise web.HTTPError(503, UNREACHABLE_MESSAGE) from None
        if model is None:
            return None
        member_of = model["auth_state"]["ldap_groups"]
        model["groups"] = sorted({group_name(dn) for dn in member_of})
        model["admin"] = model["name"] in self.admin_users or any(dn in self.admin_group_dns for dn in member_of)
        return model

    async def still_allowed(self, name: str) -> bool:
        """Group membership needs the user's own bind, so with group rules it is checked at each login only."""
        return bool(self.allowed_groups) or await super().still_allowed(name)
