"""Native mode: each user their own password, with sign-up and an admin's approval (NativeAuthenticator)."""

from traitlets.config import Config

from appliance.declarations import LoginMode, Outcome, Problem, Setting, Settings, passed
from appliance.kinds import Flag, Integer
from appliance.layout import HUB_TEMPLATES
from appliance.login.rules import admin_password_missing, admins_named

SETTINGS = (
    Setting(
        "OPEN_SIGNUP",
        "Native mode: anyone who signs up may log in at once, with no admin's approval; an explicit opt-in.",
        Flag(),
        default="false",
    ),
    Setting(
        "MIN_PASSWORD_LENGTH",
        "Native mode: the shortest password a user may choose; common passwords are refused too.",
        Integer(8, 72),
        default="12",
    ),
)


def problems(values: Settings) -> list[Problem]:
    if values["OPEN_SIGNUP"] and values["SPAWNER_MODE"] == "system":
        return [
            Problem(
                "OPEN_SIGNUP",
                "true",
                "is refused in system mode: anyone could sign up with the name of a host account and get its home",
                "unset it, so that an admin approves each sign-up",
            )
        ]
    return []


def configure(settings: Settings, c: Config) -> None:
    from nativeauthenticator import handlers as native_handlers  # heavy: only where the hub's config is made

    c.JupyterHub.authenticator_class = "appliance.auth.native.ApplianceNativeAuthenticator"
    c.ApplianceNativeAuthenticator.admin_initial_password = settings["ADMIN_PASSWORD"]
    c.ApplianceNativeAuthenticator.approve_listed_names = settings["SPAWNER_MODE"] != "system"
    native = c.NativeAuthenticator
    native.open_signup = settings["OPEN_SIGNUP"]
    native.minimum_password_length = settings["MIN_PASSWORD_LENGTH"]
    native.check_common_password = True
    # Failed logins are limited by the appliance itself (PasswordLogin), per name and per address, as in
    # password mode; the authenticator's own lockout counts only names and says nothing to the user.
    native.allowed_failed_logins = 0
    # Ours first (authorization-area.html: approval by POST forms); then the authenticator's own, which it adds
    # only to JupyterHub's asynchronous templates, while error pages render from the synchronous ones.
    c.JupyterHub.template_paths = [str(HUB_TEMPLATES), native_handlers.TEMPLATE_DIR]


def diagnose(settings: Settings) -> Outcome:
    approval = "open sign-up" if settings["OPEN_SIGNUP"] else "sign-ups approved by an admin"
    return admin_password_missing(settings) or passed(f"native login ({approval}), {admins_named(settings)}")


MODE = LoginMode(
    "native",
    "Native login",
    configure,
    diagnose,
    SETTINGS,
    problems,
    admin_password=True,
    takes_passwords=True,
)
