"""What several login modes share: their problems' wording, and the doctor's check of the admins' password."""

from urllib.parse import urlsplit

from appliance.declarations import Outcome, Problem, Settings, failed, value_of
from appliance.layout import ADMIN_PASSWORD_FILE, stored_secret_path


def required(values: Settings, mode: str, names: tuple[str, ...], fix: str) -> list[Problem]:
    return [
        Problem(name, "(unset)", f"is required when AUTH_MODE={mode}", fix)
        for name in names
        if not value_of(values, name)
    ]


def callback_problems(values: Settings, mode: str) -> list[Problem]:
    if values["OAUTH_CALLBACK_URL"]:
        return []
    return [
        Problem(
            "OAUTH_CALLBACK_URL",
            "(unset)",
            f"is required when AUTH_MODE={mode}, and PUBLIC_URL is unset too",
            "set PUBLIC_URL to the URL people open (the callback is derived from it), or OAUTH_CALLBACK_URL",
        )
    ]


def admits_no_one(mode: str, rules: str) -> Problem:
    return Problem(
        "ALLOWED_USERS",
        "(unset)",
        f"{mode} mode admits no one: no allow rule is set, so the hub refuses to start",
        f"set {rules}, or ALLOW_ALL=true to admit anyone with an account",
    )


def admin_password_missing(settings: Settings) -> Outcome | None:
    """Admins log in with ADMIN_PASSWORD, set or stored at the first start: a FAIL when there is neither."""
    stored = stored_secret_path(settings["DATA_DIR"], ADMIN_PASSWORD_FILE)
    if settings["ADMIN_PASSWORD"] or stored.exists():
        return None
    return failed("no admin password, set or stored", "restart the hub once to generate one")


def admins_named(settings: Settings) -> str:
    return f"admins {', '.join(settings['ADMIN_USERS'] or ())}"


def callback_off_public_url(settings: Settings) -> Outcome | None:
    """The callback must be on the URL people open, or the provider sends them elsewhere (github and oidc)."""
    public, callback = settings["PUBLIC_URL"], settings["OAUTH_CALLBACK_URL"]
    if public and urlsplit(public)[:2] != urlsplit(callback)[:2]:
        return failed(
            f"OAUTH_CALLBACK_URL {callback} is not on PUBLIC_URL {public}",
            "unset OAUTH_CALLBACK_URL to derive it, or make both use the same scheme and host",
        )
    return None
