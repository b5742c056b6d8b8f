"""OIDC mode: the lab's OpenID Connect provider (oauthenticator's GenericOAuthenticator), its endpoints read from
the issuer's discovery document, its groups claim made into allow rules, admin rules and JupyterHub groups."""

from urllib.parse import urlsplit

from traitlets.config import Config

from appliance.declarations import (
    LoginMode,
    Outcome,
    Problem,
    Report,
    Setting,
    Settings,
    StartRefused,
    failed,
    passed,
    present,
)
from appliance.kinds import Choice, ExistingFile, Integer, NameList, Text, Url
from appliance.login.rules import admits_no_one, callback_off_public_url, callback_problems, required

NOT_ALLOWED_MESSAGE = (
    "Your account is not allowed on this hub: it is not among the allowed users, nor a member of an allowed "
    "group. Ask the hub's admins to add you."
)

SETTINGS = (
    Setting(
        "OIDC_ISSUER",
        "The OpenID Connect provider's issuer URL; the hub reads ISSUER/.well-known/openid-configuration at start.",
        Url(("http", "https")),
    ),
    Setting(
        "OIDC_CLIENT_ID",
        "Client ID of the hub's client at the provider.",
        Text(describe="the client's ID"),
    ),
    Setting(
        "OIDC_CLIENT_SECRET",
        "Client secret of the hub's client at the provider.",
        Text(describe="the client's secret"),
        secret=True,
    ),
    Setting(
        "OIDC_SCOPES",
        "Scopes the hub asks for; add the one that puts groups into the userinfo if your provider needs one.",
        NameList("space-separated scopes", pattern=r"[!#-\[\]-~]+", separator=" "),
        default="openid profile email",
    ),
    Setting(
        "OIDC_USERNAME_CLAIM",
        "The userinfo claim that becomes the JupyterHub user name. In system mode it must be a claim the provider "
        "keeps unique (not preferred_username, name, nickname or email), since it names a host account.",
        Text(r"[A-Za-z0-9_.:-]+", describe="a claim name such as preferred_username or email"),
        default="preferred_username",
    ),
    Setting(
        "OIDC_GROUPS_CLAIM",
        "The userinfo claim that lists the user's groups (for ALLOWED_GROUPS, ADMIN_GROUPS and JupyterHub groups).",
        Text(r"[A-Za-z0-9_.:/-]+", describe="a claim name such as groups or roles"),
        default="groups",
    ),
    Setting(
        "OIDC_CLAIMS_FROM",
        "Where the user's claims come from: the provider's userinfo endpoint, or the ID token (Entra ID puts "
        "groups only there).",
        Choice(("userinfo", "id_token")),
        default="userinfo",
    ),
    Setting(
        "OIDC_CA_CERT",
        "The CA certificate (PEM) of a provider whose certificate no public CA signed.",
        ExistingFile("a PEM CA certificate"),
    ),
    Setting(
        "OIDC_WAIT_SECONDS",
        "How long the hub, when it starts, waits for the issuer to answer before it gives up with an error.",
        Integer(1, 3600),
        default="60",
    ),
)


def problems(values: Settings) -> list[Problem]:
    """OpenID Connect login fails closed as GitHub's does."""
    fix = "copy it from your provider's page of the client (recipes: docs/authentication.md)"
    found = required(values, "oidc", ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"), fix)
    found += callback_problems(values, "oidc")
    if not (values["ALLOWED_USERS"] or values["ALLOWED_GROUPS"] or values["ALLOW_ALL"]):
        found.append(admits_no_one("oidc", "ALLOWED_USERS (user names), ALLOWED_GROUPS (groups of OIDC_GROUPS_CLAIM)"))
    return found


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.oidc.ApplianceOIDCAuthenticator"
    oidc = c.ApplianceOIDCAuthenticator
    oidc.oidc_issuer = settings["OIDC_ISSUER"]
    oidc.oidc_ca_cert = settings["OIDC_CA_CERT"] or ""
    oidc.client_id = settings["OIDC_CLIENT_ID"]
    oidc.client_secret = settings["OIDC_CLIENT_SECRET"]
    oidc.oauth_callback_url = settings["OAUTH_CALLBACK_URL"]
    oidc.scope = list(settings["OIDC_SCOPES"])
    oidc.username_claim = settings["OIDC_USERNAME_CLAIM"]
    oidc.userdata_from_id_token = settings["OIDC_CLAIMS_FROM"] == "id_token"
    oidc.enable_pkce = True
    oidc.allow_all = settings["ALLOW_ALL"]
    oidc.login_service = urlsplit(settings["OIDC_ISSUER"]).hostname
    oidc.custom_403_message = NOT_ALLOWED_MESSAGE
    # The tokens are kept (encrypted), so that sessions can be checked against the provider again.
    oidc.enable_auth_state = True
    # The groups claim becomes allow and admin rules, and JupyterHub groups refreshed at each login.
    oidc.manage_groups = True
    oidc.auth_state_groups_key = f"oauth_user.{settings['OIDC_GROUPS_CLAIM']}"
    oidc.allowed_groups = set(settings["ALLOWED_GROUPS"] or ())
    oidc.admin_groups = set(settings["ADMIN_GROUPS"] or ())
    if settings["OIDC_CA_CERT"]:
        oidc.http_request_kwargs = {"ca_certs": settings["OIDC_CA_CERT"]}


def start(settings: Settings, report: Report) -> None:
    """The issuer answers with its endpoints (a bounded wait), before the hub starts."""
    from appliance.auth.oidc import DiscoveryError, wait_for_issuer  # oauthenticator: heavy, and needed here only

    try:
        wait_for_issuer(
            present(settings["OIDC_ISSUER"]), settings["OIDC_CA_CERT"], settings["OIDC_WAIT_SECONDS"], report
        )
    except DiscoveryError as error:
        raise StartRefused(str(error)) from None
    report(f"The OpenID Connect provider {settings['OIDC_ISSUER']} answers with its endpoints.")


def diagnose(settings: Settings) -> Outcome:
    from appliance.auth.oidc import DiscoveryError, discovered_endpoints

    if off_public_url := callback_off_public_url(settings):
        return off_public_url
    try:
        discovered_endpoints(present(settings["OIDC_ISSUER"]), settings["OIDC_CA_CERT"])
    except DiscoveryError as error:
        return failed(f"OIDC_ISSUER {settings['OIDC_ISSUER']} {error}", "check the URL, the network and OIDC_CA_CERT")
    callback = settings["OAUTH_CALLBACK_URL"]
    return passed(f"OpenID Connect login at {settings['OIDC_ISSUER']} (discovery answers), callback {callback}")


MODE = LoginMode("oidc", "OpenID Connect login", configure, diagnose, SETTINGS, problems, start, family="OIDC_")
