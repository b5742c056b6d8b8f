"""LDAP mode: the lab's directory (jupyterhub-ldapauthenticator), over TLS whose certificate is verified, with
group DNs as allow rules, admin rules and JupyterHub groups."""

import ssl
from urllib.parse import urlsplit

from traitlets.config import Config

from appliance.declarations import LoginMode, Outcome, Problem, Setting, Settings, failed, passed, present, value_of
from appliance.kinds import ExistingFile, Flag, NameList, Text, Url
from appliance.login.rules import admits_no_one, required

SETTINGS = (
    Setting(
        "LDAP_URL",
        "The directory: ldap://host[:port] (upgraded with StartTLS) or ldaps://host[:port] (TLS from the start).",
        Url(("ldap", "ldaps")),
    ),
    Setting(
        "LDAP_CA_CERT",
        "The CA certificate (PEM) of the directory's certificate, when no public CA signed it.",
        ExistingFile("a PEM CA certificate"),
    ),
    Setting(
        "LDAP_ALLOW_PLAINTEXT",
        "Talk to an ldap:// directory without StartTLS, so that passwords cross the network in clear; "
        "an explicit opt-in.",
        Flag(),
        default="false",
    ),
    Setting(
        "LDAP_BIND_DN_TEMPLATE",
        "A user's DN, from their login name: such as uid={username},ou=people,dc=example,dc=org. "
        "Or leave it unset and set LDAP_SEARCH_BASE to look the DN up.",
        Text(r".*\{username\}.*", describe="a DN with {username} in it"),
    ),
    Setting(
        "LDAP_SEARCH_BASE",
        "Where to look a user's DN up by LDAP_USERNAME_ATTRIBUTE (instead of LDAP_BIND_DN_TEMPLATE).",
        Text(describe="a DN such as ou=people,dc=example,dc=org"),
    ),
    Setting(
        "LDAP_USERNAME_ATTRIBUTE",
        "The attribute that holds the login name, for the lookup (uid; sAMAccountName in Active Directory).",
        Text(r"[A-Za-z][A-Za-z0-9-]*", describe="an attribute name"),
        default="uid",
    ),
    Setting(
        "LDAP_SEARCH_FILTER",
        "A filter the user must also match, such as (&(objectClass=person)({userattr}={username})).",
        Text(r"\(.*\)", describe="an LDAP filter in parentheses; {username} and {userattr} are filled in"),
    ),
    Setting(
        "LDAP_BIND_USER",
        "The DN the hub binds as to look users up; unset means an anonymous bind.",
        Text(describe="a DN"),
    ),
    Setting(
        "LDAP_BIND_PASSWORD",
        "The password of LDAP_BIND_USER.",
        Text(describe="any text"),
        secret=True,
    ),
    Setting(
        "LDAP_ALLOWED_GROUPS",
        "Group DNs whose members may log in, separated by semicolons (DNs hold commas).",
        NameList("semicolon-separated group DNs", separator=";"),
    ),
    Setting(
        "LDAP_ADMIN_GROUPS",
        "Group DNs whose members are hub admins, separated by semicolons.",
        NameList("semicolon-separated group DNs", separator=";"),
    ),
)


def problems(values: Settings) -> list[Problem]:
    """LDAP login: a directory, one way to find a user's DN, TLS unless waived, and an allow rule."""
    found = required(values, "ldap", ("LDAP_URL",), "set it to ldap://host or ldaps://host")
    template, base = values["LDAP_BIND_DN_TEMPLATE"], values["LDAP_SEARCH_BASE"]
    if bool(template) == bool(base):
        found.append(
            Problem(
                "LDAP_BIND_DN_TEMPLATE",
                "(set)" if template else "(unset)",
                "ldap mode needs exactly one way to find a user's DN: LDAP_BIND_DN_TEMPLATE or LDAP_SEARCH_BASE",
                "set LDAP_BIND_DN_TEMPLATE such as uid={username},ou=people,dc=example,dc=org, or LDAP_SEARCH_BASE",
            )
        )
    for name, needs in (("LDAP_BIND_USER", "LDAP_SEARCH_BASE"), ("LDAP_SEARCH_FILTER", "LDAP_SEARCH_BASE"),
                        ("LDAP_BIND_PASSWORD", "LDAP_BIND_USER")):  # fmt: skip
        if value_of(values, name) and not value_of(values, needs):
            found.append(Problem(name, "(set)", f"needs {needs}", f"set {needs}, or unset {name}"))
    if values["LDAP_ALLOW_PLAINTEXT"] and (values["LDAP_URL"] or "").startswith("ldaps://"):
        found.append(Problem("LDAP_ALLOW_PLAINTEXT", "true", "contradicts an ldaps:// LDAP_URL", "unset it"))
    if not (values["ALLOWED_USERS"] or values["LDAP_ALLOWED_GROUPS"] or values["ALLOW_ALL"]):
        found.append(admits_no_one("ldap", "ALLOWED_USERS (login names), LDAP_ALLOWED_GROUPS (group DNs)"))
    return found


def configure(settings: Settings, c: Config) -> None:
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
    url = urlsplit(present(settings["LDAP_URL"]))
    if url.scheme == "ldaps":
        return present(url.hostname), url.port or 636, "on_connect"
    return present(url.hostname), url.port or 389, "insecure" if settings["LDAP_ALLOW_PLAINTEXT"] else "before_bind"


def tls_kwargs_of(settings: Settings) -> dict:
    """ldap3 does not verify the directory's certificate unless told to."""
    return {"validate": ssl.CERT_REQUIRED, "ca_certs_file": settings["LDAP_CA_CERT"]}


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


def diagnose(settings: Settings) -> Outcome:
    """The directory answers, and its TLS (StartTLS or ldaps) holds with the configured CA."""
    import ldap3  # only the doctor talks to the directory from here

    host, port, strategy = directory_endpoint(settings)
    tls = ldap3.Tls(**tls_kwargs_of(settings))
    server = ldap3.Server(host, port=port, use_ssl=strategy == "on_connect", tls=tls, connect_timeout=5)
    try:
        connection = ldap3.Connection(server)
        connection.open()
        if strategy == "before_bind":
            connection.start_tls()
        connection.unbind()
    except ldap3.core.exceptions.LDAPException as error:
        return failed(
            f"LDAP_URL {settings['LDAP_URL']}: {error.__class__.__name__}: {error}",
            "check that the directory runs and is reachable, and LDAP_CA_CERT",
        )
    how = "in plain text (LDAP_ALLOW_PLAINTEXT)" if strategy == "insecure" else "over verified TLS"
    return passed(f"LDAP login at {settings['LDAP_URL']}, reached {how}")


MODE = LoginMode("ldap", "LDAP login", configure, diagnose, SETTINGS, problems, takes_passwords=True, family="LDAP_")
