"""LDAP mode: the lab's directory (jupyterhub-ldapauthenticator), over TLS whose certificate is verified,
with group DNs as allow rules, admin rules and JupyterHub groups."""

import ssl
from urllib.parse import urlsplit

from ldap3 import Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn
from ldapauthenticator import LDAPAuthenticator
from tornado import web
from traitlets import List
from traitlets.config import Config

from appliance.auth.password_login import PasswordLogin
from appliance.settings import Settings

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

    admin_group_dns = List(config=True, help="Group DNs whose members are admins (also allowed to log in).")

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


def configure_ldap(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.ldap.ApplianceLDAPAuthenticator"
    ldap = c.LDAPAuthenticator
    ldap.server_address, ldap.server_port, ldap.tls_strategy = directory_endpoint(settings)
    ldap.tls_kwargs = tls_kwargs_of(settings)
    ldap.allow_all = settings["ALLOW_ALL"]
    configure_user_lookup(settings, ldap)
    admin_groups = list(settings["LDAP_ADMIN_GROUPS"] or ())
    # Membership is searched only for the groups named here; admins' groups admit too.
    ldap.allowed_groups = list(dict.fromkeys([*(settings["LDAP_ALLOWED_GROUPS"] or ()), *admin_groups]))
    c.ApplianceLDAPAuthenticator.admin_group_dns = admin_groups
    ldap.manage_groups = True


def directory_endpoint(settings: Settings) -> tuple[str, int, str]:
    """Host, port and ldapauthenticator's tls_strategy: ldaps:// is TLS from the start, ldap:// is StartTLS
    before the bind, or plain text with LDAP_ALLOW_PLAINTEXT."""
    url = urlsplit(settings["LDAP_URL"])
    if url.scheme == "ldaps":
        return url.hostname, url.port or 636, "on_connect"
    return url.hostname, url.port or 389, "insecure" if settings["LDAP_ALLOW_PLAINTEXT"] else "before_bind"


def tls_kwargs_of(settings: Settings) -> dict:
    """ldap3 does not verify the directory's certificate unless told to."""
    return {"validate": ssl.CERT_REQUIRED, "ca_certs_file": settings["LDAP_CA_CERT"]}


def tls_of(settings: Settings) -> Tls:
    return Tls(**tls_kwargs_of(settings))


def configure_user_lookup(settings: Settings, ldap) -> None:
    """A user's DN from a template, or looked up by their login attribute (with the hub's own bind)."""
    if settings["LDAP_BIND_DN_TEMPLATE"]:
        ldap.bind_dn_template = [settings["LDAP_BIND_DN_TEMPLATE"]]
    else:
        ldap.lookup_dn = True
        ldap.user_search_base = settings["LDAP_SEARCH_BASE"]
        ldap.user_attribute = settings["LDAP_USERNAME_ATTRIBUTE"]
        ldap.lookup_dn_search_user = settings["LDAP_BIND_USER"] or ""
        ldap.lookup_dn_search_password = settings["LDAP_BIND_PASSWORD"] or ""
        ldap.lookup_dn_user_dn_attribute = settings["LDAP_USERNAME_ATTRIBUTE"]
    # Only with the lookup (LDAP_SEARCH_FILTER needs LDAP_SEARCH_BASE), whose base and attribute it uses.
    if settings["LDAP_SEARCH_FILTER"]:
        ldap.search_filter = settings["LDAP_SEARCH_FILTER"]
