"""LTI 1.3 mode: users log in by a launch from their course in an LMS (Canvas, Moodle, …), through
jupyterhub-ltiauthenticator; course roles become JupyterHub groups; admins keep a password login of their own."""

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
from appliance.kinds import NameList, Text, Url
from appliance.login.rules import admin_password_missing, admins_named, admits_no_one, required

# Where the tool's pages are, under the hub's URL (ltiauthenticator's routes, and the admins' password login).
LOGIN_INITIATION_PATH = "/hub/lti13/oauth_login"
REDIRECT_PATH = "/hub/lti13/oauth_callback"
CONFIG_PATH = "/hub/lti13/config"
ADMIN_LOGIN_PATH = "/hub/admin-login"
# The custom parameter of a launch that names the assignment (a path in the home, or an nbgitpuller link).
TARGET_PARAMETER = "target"
# Cookies that a launch (a form post from the LMS's site) and the LMS's frame carry: SameSite=None, which browsers
# take only when Secure, and Partitioned (CHIPS), without which Chrome drops them inside another site's frame.
# The user image's singleuser/jupyter_server_config.py repeats it for the servers' cookies.
CROSS_SITE_COOKIE = {"samesite": "None", "secure": True, "partitioned": True}
ORIGIN = r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?"

SETTINGS = (
    Setting(
        "LTI_ISSUER",
        "The LMS's issuer, as its LTI 1.3 registration page shows it (Canvas: https://canvas.instructure.com; "
        "Moodle: the site's URL).",
        Url(("http", "https")),
    ),
    Setting(
        "LTI_CLIENT_ID",
        "The client ID (or IDs) the LMS gave the tool when it was registered (Canvas: the developer key's ID).",
        NameList("comma-separated client IDs", pattern=r"[!-+\--~]+"),
    ),
    Setting(
        "LTI_AUTHORIZE_URL",
        "The LMS's OIDC authentication request URL (Canvas: https://sso.canvaslms.com/api/lti/authorize_redirect; "
        "Moodle: SITE/mod/lti/auth.php).",
        Url(("http", "https")),
    ),
    Setting(
        "LTI_JWKS_URL",
        "The LMS's public keyset URL, whose keys sign the launches (Canvas: https://sso.canvaslms.com/api/lti/"
        "security/jwks; Moodle: SITE/mod/lti/certs.php).",
        Url(("http", "https")),
    ),
    Setting(
        "LTI_USERNAME_CLAIM",
        "The launch's claim that becomes the JupyterHub user name: sub (the LMS's stable user ID) by default; "
        "email, or custom_NAME for a custom parameter NAME, if the LMS keeps it unique and unchanged.",
        Text(r"[A-Za-z0-9_.:-]+", describe="a claim name such as sub, email or custom_login"),
        default="sub",
    ),
    Setting(
        "LTI_DEPLOYMENT_IDS",
        "The deployments (placements of the tool in the LMS) whose launches are taken; unset takes every "
        "deployment of LTI_CLIENT_ID.",
        NameList("comma-separated deployment IDs"),
    ),
    Setting(
        "LTI_PLATFORM_ORIGINS",
        "Origins that may show the hub inside a frame (the LMS's own pages); cookies then work across sites. "
        "Unset: the hub refuses to be framed, and the LMS must open the tool in a new tab.",
        NameList("comma-separated origins such as https://canvas.example.edu (scheme and host, no path)", ORIGIN),
    ),
)


def problems(values: Settings) -> list[Problem]:
    fix = "copy it from the LMS's page of the tool's registration (recipes: docs/lti.md)"
    found = required(values, "lti13", ("LTI_ISSUER", "LTI_CLIENT_ID", "LTI_AUTHORIZE_URL", "LTI_JWKS_URL"), fix)
    found += public_url_problems(values)
    if not (values["ALLOWED_USERS"] or values["ALLOWED_GROUPS"] or values["ALLOW_ALL"]):
        found.append(admits_no_one("lti13", "ALLOWED_GROUPS (a course's role groups, such as cs101-learner)"))
    return found


def public_url_problems(values: Settings) -> list[Problem]:
    """The LMS needs the tool's URLs, and browsers keep the launch's cross-site cookies only over HTTPS (or on
    this machine, for a trial)."""
    public = values["PUBLIC_URL"]
    if not public:
        return [
            Problem(
                "PUBLIC_URL",
                "(unset)",
                "is required when AUTH_MODE=lti13: the LMS is given the tool's URLs on it",
                "set PUBLIC_URL to the https:// URL people open",
            )
        ]
    parts = urlsplit(public)
    if parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        return [
            Problem(
                "PUBLIC_URL",
                public,
                "must be https:// when AUTH_MODE=lti13: the launch comes from the LMS's site, and browsers send "
                "cookies across sites only over HTTPS",
                "serve the hub over HTTPS (DOMAIN, or TLS_CERT and TLS_KEY) and set PUBLIC_URL to it",
            )
        ]
    return []


def tool_urls(settings: Settings) -> dict[str, str]:
    """What the admin pastes into the LMS, by the names LMSs give the fields."""
    public = present(settings["PUBLIC_URL"]).rstrip("/")
    return {
        "Target link URI (tool URL)": f"{public}/hub/",
        "OpenID Connect login initiation URL": public + LOGIN_INITIATION_PATH,
        "Redirect URI": public + REDIRECT_PATH,
        "Configuration JSON URL (Canvas: Enter URL)": public + CONFIG_PATH,
        "Admins' password login": public + ADMIN_LOGIN_PATH,
    }


def registration(settings: Settings) -> list[str]:
    """The lines `appliance run` logs and `appliance check` prints."""
    lines = ["Register the hub in the LMS as an LTI 1.3 tool with these (docs/lti.md):"]
    lines += [f"  {field}: {url}" for field, url in tool_urls(settings).items()]
    if not settings["LTI_PLATFORM_ORIGINS"]:
        lines.append("  Open it in a new tab (LTI_PLATFORM_ORIGINS is unset, so the hub refuses to be framed).")
    return lines


def frame_ancestors(settings: Settings) -> str:
    """The Content-Security-Policy of the hub's and the servers' pages: only the LMS's origins may frame them."""
    origins = settings["LTI_PLATFORM_ORIGINS"] or ()
    return "frame-ancestors " + " ".join(("'self'", *origins)) if origins else "frame-ancestors 'none'"


def server_environment(settings: Settings) -> dict[str, str]:
    """What the appliance's user image reads to let the LMS frame JupyterLab (singleuser/jupyter_server_config.py)."""
    if not settings["LTI_PLATFORM_ORIGINS"]:
        return {}
    return {"APPLIANCE_CONTENT_SECURITY_POLICY": frame_ancestors(settings)}


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.lti13.ApplianceLTI13Authenticator"
    lti = c.ApplianceLTI13Authenticator
    lti.issuer = settings["LTI_ISSUER"]
    lti.client_id = set(settings["LTI_CLIENT_ID"] or ())
    lti.authorize_url = settings["LTI_AUTHORIZE_URL"]
    lti.jwks_endpoint = settings["LTI_JWKS_URL"]
    lti.username_key = settings["LTI_USERNAME_CLAIM"]
    lti.deployment_ids = set(settings["LTI_DEPLOYMENT_IDS"] or ())
    lti.uri_scheme = urlsplit(present(settings["PUBLIC_URL"])).scheme
    lti.admin_password = settings["ADMIN_PASSWORD"] or ""
    lti.allow_all = settings["ALLOW_ALL"]
    lti.allowed_groups = set(settings["ALLOWED_GROUPS"] or ())
    lti.admin_groups = set(settings["ADMIN_GROUPS"] or ())
    lti.manage_groups = True
    configure_cross_site(settings, c)


def configure_cross_site(settings: Settings, c: Config) -> None:
    """With LTI_PLATFORM_ORIGINS, the hub's pages may be framed by the LMS, and its cookies (and the servers',
    which JupyterHub passes on) are sent inside that frame."""
    if not settings["LTI_PLATFORM_ORIGINS"]:
        return
    tornado_settings = dict(c.JupyterHub.tornado_settings or {})
    tornado_settings["headers"] = {
        **tornado_settings.get("headers", {}),
        "Content-Security-Policy": frame_ancestors(settings),
    }
    tornado_settings["cookie_options"] = CROSS_SITE_COOKIE
    c.JupyterHub.tornado_settings = tornado_settings


def start(settings: Settings, report: Report) -> None:
    """The LMS's keyset answers with keys (a bounded wait), and the log says what to paste into the LMS."""
    from appliance.auth.lti13 import KeysetError, wait_for_keyset  # PyJWT: needed only here

    try:
        count = wait_for_keyset(present(settings["LTI_JWKS_URL"]), 60, report)
    except KeysetError as error:
        raise StartRefused(str(error)) from None
    report(f"The LMS's keyset at {settings['LTI_JWKS_URL']} answers with {count} key(s).")
    for line in registration(settings):
        report(line)


def diagnose(settings: Settings) -> Outcome:
    from appliance.auth.lti13 import KeysetError, keys_in

    if missing := admin_password_missing(settings):
        return missing
    try:
        count = keys_in(present(settings["LTI_JWKS_URL"]))
    except KeysetError as error:
        return failed(f"LTI_JWKS_URL {error}", "check the URL and that the hub can reach the LMS")
    return passed(
        f"LTI 1.3 launches from {settings['LTI_ISSUER']} ({count} signing key(s)); {admins_named(settings)} "
        f"log in at {ADMIN_LOGIN_PATH}"
    )


MODE = LoginMode(
    "lti13",
    "LTI 1.3 login",
    configure,
    diagnose,
    SETTINGS,
    problems,
    start,
    family="LTI_",
    admin_password=True,
    takes_passwords=True,
    registration=registration,
    server_environment=server_environment,
)
