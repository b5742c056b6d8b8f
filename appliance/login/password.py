"""Password mode: the admins' password, and one password shared by every user in ALLOWED_USERS."""

from traitlets.config import Config

from appliance.declarations import LoginMode, Outcome, Problem, Setting, Settings, passed
from appliance.kinds import Text
from appliance.login.rules import admin_password_missing, admins_named

SETTINGS = (
    Setting(
        "USER_PASSWORD",
        "Password mode: one password shared by all the non-admin users named in ALLOWED_USERS, so that anyone who "
        "knows it can log in as any of them (use native mode for a class); unset means only admins log in.",
        Text(min_length=8, describe="any text"),
        secret=True,
    ),
)


def problems(values: Settings) -> list[Problem]:
    found = []
    if values["USER_PASSWORD"] and values["USER_PASSWORD"] == values["ADMIN_PASSWORD"]:
        found.append(
            Problem(
                "USER_PASSWORD",
                "<redacted>",
                "must differ from ADMIN_PASSWORD, or every user could log in as an admin",
                "pick a different USER_PASSWORD",
            )
        )
    if values["USER_PASSWORD"] and not values["ALLOWED_USERS"]:
        found.append(
            Problem(
                "ALLOWED_USERS",
                "(unset)",
                "USER_PASSWORD is set but no one may use it",
                "name the users in ALLOWED_USERS, or unset USER_PASSWORD",
            )
        )
    return found


def configure(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.password.ApplianceSharedPasswordAuthenticator"
    c.SharedPasswordAuthenticator.admin_password = settings["ADMIN_PASSWORD"]
    c.SharedPasswordAuthenticator.user_password = settings["USER_PASSWORD"]


def diagnose(settings: Settings) -> Outcome:
    return admin_password_missing(settings) or passed(f"password login for {admins_named(settings)}")


MODE = LoginMode(
    "password",
    "Password login",
    configure,
    diagnose,
    SETTINGS,
    problems,
    admin_password=True,
    takes_passwords=True,
)
