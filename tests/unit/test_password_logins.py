"""Failed-login limits, and the native authenticator against a real (in-memory) hub database."""

import asyncio

import pytest
from jupyterhub import orm
from nativeauthenticator import handlers as upstream_handlers
from traitlets.config import Config

from appliance.auth.failed_logins import PRUNE_AT, FailedLogins
from appliance.auth.native import (
    ApplianceNativeAuthenticator,
    ApprovalHandler,
    DiscardHandler,
    NativeLoginHandler,
    NativeSignUpHandler,
    new_hash,
)
from appliance.auth.password_login import TooManyFailedLogins
from appliance.login import native as native_mode
from appliance.settings import load

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}
ADMIN_PASSWORD = "first-admin-password-0123456789-abcdef"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_name_is_locked_after_its_failures_and_for_the_lockout_after_the_last():
    clock = Clock()
    logins = FailedLogins(per_name=3, per_address=100, lockout_seconds=60, clock=clock)
    for _ in range(2):
        logins.failed("ann", "192.0.2.1")
        clock.now += 10
    assert logins.wait_seconds("ann", "192.0.2.1") == (0, "")
    logins.failed("ann", "192.0.2.1")
    assert logins.wait_seconds("ann", "192.0.2.1") == (60, "name")
    assert logins.wait_seconds("bob", "192.0.2.1") == (0, "")
    # Only from there: a stranger's failures do not lock the name out everywhere.
    assert logins.wait_seconds("ann", "192.0.2.7") == (0, "")
    clock.now += 59.5
    assert logins.wait_seconds("ann", "192.0.2.1") == (1, "name")
    clock.now += 1
    assert logins.wait_seconds("ann", "192.0.2.1") == (0, "")


def test_failures_older_than_the_lockout_are_forgotten():
    clock = Clock()
    logins = FailedLogins(per_name=2, per_address=100, lockout_seconds=60, clock=clock)
    logins.failed("ann", "192.0.2.1")
    clock.now += 61
    logins.failed("ann", "192.0.2.1")
    assert logins.wait_seconds("ann", "192.0.2.1") == (0, "")


def test_an_address_is_locked_across_names_and_a_success_clears_only_the_name():
    clock = Clock()
    logins = FailedLogins(per_name=2, per_address=3, lockout_seconds=60, clock=clock)
    logins.failed("ann", "192.0.2.1")
    logins.succeeded("ann", "192.0.2.1")
    logins.failed("ann", "192.0.2.1")
    assert logins.wait_seconds("ann", "192.0.2.1") == (0, "")
    logins.failed("bob", "192.0.2.1")
    assert logins.wait_seconds("carol", "192.0.2.1") == (60, "address")
    assert logins.wait_seconds("carol", "192.0.2.2") == (0, "")


def test_sign_ups_are_limited_per_address_apart_from_failed_logins():
    logins = FailedLogins(per_name=2, per_address=3, lockout_seconds=60, clock=Clock())
    for _ in range(3):
        logins.signed_up("192.0.2.1")
    assert logins.sign_up_wait_seconds("192.0.2.1") == (60, "sign-up")
    assert logins.sign_up_wait_seconds("192.0.2.2") == (0, "")
    assert logins.wait_seconds("ann", "192.0.2.1") == (0, ""), "logging in from there is not held back"


def test_made_up_names_do_not_grow_the_table_without_bound():
    clock = Clock()
    logins = FailedLogins(per_name=5, per_address=10**6, lockout_seconds=60, clock=clock)
    for number in range(PRUNE_AT):
        logins.failed(f"user{number}", "192.0.2.1")
    clock.now += 61
    logins.failed("late", "192.0.2.9")
    assert set(logins.records) == {("name", "late from 192.0.2.9"), ("address", "192.0.2.9")}


def test_the_429_says_when_to_try_again():
    error = TooManyFailedLogins(240, "name")
    assert error.status_code == 429
    assert error.headers == {"Retry-After": "240"}
    assert "Try again in 4 minutes" in error.jupyterhub_message
    assert "for this user name" in error.jupyterhub_message


@pytest.fixture
def database():
    session = orm.new_session_factory("sqlite://")()
    yield session
    session.close()


def native(database, **environ) -> ApplianceNativeAuthenticator:
    c = Config()
    settings = load({**SECRETS, "AUTH_MODE": "native", "ADMIN_PASSWORD": ADMIN_PASSWORD, **environ})
    native_mode.configure(settings, c)
    c.Authenticator.admin_users = set(settings["ADMIN_USERS"])
    c.Authenticator.allowed_users = set(settings["ADMIN_USERS"]) | set(settings["ALLOWED_USERS"] or ())
    return ApplianceNativeAuthenticator(config=c, _deprecated_db_session=database)


def test_admins_get_an_approved_account_with_the_initial_password(database):
    authenticator = native(database, ADMIN_USERS="prof")
    prof = authenticator.get_user("prof")
    assert prof.is_authorized and prof.is_valid_password(ADMIN_PASSWORD)
    # Made once: a password the admin changed is kept at the next start.
    authenticator.change_password("prof", "a-new-admin-password")
    native(database, ADMIN_USERS="prof")
    assert authenticator.get_user("prof").is_valid_password("a-new-admin-password")


def test_sign_ups_wait_for_approval_unless_listed(database):
    authenticator = native(database, ALLOWED_USERS="ann")
    authenticator.create_user("ann", "ann-own-password")
    authenticator.create_user("eve", "eve-own-password")
    assert authenticator.check_allowed("ann") is True
    assert authenticator.check_allowed("eve") is False
    assert authenticator.check_allowed("nobody") is False


def test_in_system_mode_a_listed_name_waits_for_an_admin_like_any_other(database):
    """There a name is a host account: a stranger who signed up first as a listed name would get its uid."""
    authenticator = native(database, SPAWNER_MODE="system", ALLOWED_USERS="hsys", ADMIN_USERS="prof")
    authenticator.create_user("hsys", "stranger-own-password")
    assert authenticator.check_allowed("hsys") is False
    assert authenticator.get_user("prof").is_authorized, "admins still get their account at start"


def test_a_sign_up_takes_the_hash_made_off_the_event_loop_and_logs_in_once_approved(database):
    authenticator = native(database, ADMIN_USERS="prof")
    authenticator.prepared_hashes["ann-own-password"] = prepared = new_hash("ann-own-password")
    account = authenticator.create_user("ann", "ann-own-password", email="", has_2fa=False)
    assert account.password == prepared and authenticator.prepared_hashes == {}
    login = {"username": "ann", "password": "ann-own-password"}
    assert asyncio.run(authenticator.authenticate(None, login)) is None, "not approved yet"
    account.is_authorized = True
    assert asyncio.run(authenticator.authenticate(None, login)) == "ann"
    assert asyncio.run(authenticator.authenticate(None, {**login, "password": "not-anns-password"})) is None


def test_passwords_are_checked_for_length_commonness_and_bcrypt_limit(database):
    authenticator = native(database, MIN_PASSWORD_LENGTH="12")
    assert authenticator.is_password_strong("long-enough-pw")
    assert not authenticator.is_password_strong("short-pw")
    assert not authenticator.is_password_strong("1qaz2wsx3edc")
    # bcrypt 5 raises on more than 72 bytes; such a password is refused, not a server error.
    assert not authenticator.is_password_strong("é" * 37)
    assert authenticator.create_user("ann", "x" * 73) is None


def test_a_too_long_password_fails_to_log_in_instead_of_raising(database):
    authenticator = native(database, ADMIN_USERS="prof")
    assert asyncio.run(authenticator.authenticate(None, {"username": "prof", "password": "x" * 100})) is None
    assert asyncio.run(authenticator.authenticate(None, {"username": "prof", "password": ADMIN_PASSWORD})) == "prof"


def test_the_handlers_that_change_state_take_no_get_and_login_has_no_statsd(database):
    routes = dict(native(database).get_handlers(None))
    assert routes[r"/login"] is NativeLoginHandler
    assert routes[r"/authorize/([^/]*)"] is ApprovalHandler
    assert routes[r"/discard/([^/]*)"] is DiscardHandler
    for handler in (ApprovalHandler, DiscardHandler):
        assert "get" not in vars(handler) and handler.get is upstream_handlers.LocalBase.get
    assert routes[r"/signup"] is NativeSignUpHandler and issubclass(
        NativeSignUpHandler, upstream_handlers.SignUpHandler
    )
