"""Login modes as objects: each mode's declaration drives the AUTH_MODE choice, the docs groups, the "only in this
mode" problems, the misspelt-setting families, the hub's config and the doctor's check."""

from pathlib import Path

import pytest
from traitlets.config import Config

from appliance import docs, misspelt
from appliance.auth import configure_auth
from appliance.concerns import check_login_mode as check_auth
from appliance.declarations import LoginMode, Setting, in_login_modes, passed
from appliance.kinds import Text
from appliance.login import LOGIN_MODES
from appliance.settings import BY_NAME, SettingsError, load

ADMIN_PASSWORD = "a" * 32
COMPLETE = {
    "password": {"AUTH_MODE": "password"},
    "native": {"AUTH_MODE": "native"},
    "github": {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "PUBLIC_URL": "https://h", "ALLOW_ALL": "true"},
    "oidc": {
        "AUTH_MODE": "oidc",
        "OIDC_ISSUER": "https://id.example.org",
        "OIDC_CLIENT_ID": "hub",
        "OIDC_CLIENT_SECRET": "s",
        "PUBLIC_URL": "https://h",
        "ALLOW_ALL": "true",
    },
    "ldap": {
        "AUTH_MODE": "ldap",
        "LDAP_URL": "ldaps://dir.example.org",
        "LDAP_BIND_DN_TEMPLATE": "uid={username},dc=example,dc=org",
        "ALLOW_ALL": "true",
    },
    "lti13": {
        "AUTH_MODE": "lti13",
        "LTI_ISSUER": "https://canvas.instructure.com",
        "LTI_CLIENT_ID": "10000000000001",
        "LTI_AUTHORIZE_URL": "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "LTI_JWKS_URL": "https://sso.canvaslms.com/api/lti/security/jwks",
        "PUBLIC_URL": "https://h",
        "ALLOW_ALL": "true",
    },
}


def problems_of(environ) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load(environ)
    return {problem.name: str(problem) for problem in caught.value.problems}


def test_the_auth_mode_choice_is_the_registry():
    assert BY_NAME["AUTH_MODE"].kind.values == tuple(LOGIN_MODES)
    assert set(COMPLETE) == set(LOGIN_MODES)


@pytest.mark.parametrize("mode", LOGIN_MODES.values(), ids=lambda mode: mode.name)
def test_each_modes_settings_are_declared_once_under_its_title_and_apply_in_it_only(mode):
    for own in mode.own_settings:
        declared = BY_NAME[own.name]
        assert declared == own
        assert declared.group == mode.title
        assert declared.applies_in == in_login_modes(mode.name)
    assert f"## {mode.title}" in docs.render_table() or not mode.settings


@pytest.mark.parametrize("mode", LOGIN_MODES.values(), ids=lambda mode: mode.name)
def test_each_modes_own_settings_are_problems_in_every_other_mode(mode):
    for own in mode.settings:
        for other in set(LOGIN_MODES) - {mode.name}:
            found = problems_of({**COMPLETE[other], own.name: sample_value(own)})
            assert found.get(own.name, "").endswith(
                f"only applies when AUTH_MODE={mode.name}\n    hint: unset it, or set AUTH_MODE={mode.name}"
            ), (own.name, other, found)


def sample_value(setting: Setting) -> str:
    """A valid value other than the default, for each kind the login modes use."""
    samples = {
        "GITHUB_URL": "https://github.example.org",
        "GITHUB_SCOPES": "repo",
        "OIDC_ISSUER": "https://id.example.org",
        "OIDC_SCOPES": "openid",
        "OIDC_USERNAME_CLAIM": "sub",
        "OIDC_GROUPS_CLAIM": "roles",
        "OIDC_CLAIMS_FROM": "id_token",
        "OIDC_CA_CERT": __file__,
        "OIDC_WAIT_SECONDS": "5",
        "LDAP_URL": "ldap://dir.example.org",
        "LDAP_CA_CERT": __file__,
        "LDAP_BIND_DN_TEMPLATE": "uid={username},dc=x",
        "LDAP_USERNAME_ATTRIBUTE": "cn",
        "LDAP_SEARCH_FILTER": "(objectClass=person)",
        "MIN_PASSWORD_LENGTH": "20",
        "ALLOWED_ORGANIZATIONS": "org",
        "ADMIN_TEAMS": "org:staff",
        "LTI_ISSUER": "https://moodle.example.edu",
        "LTI_AUTHORIZE_URL": "https://moodle.example.edu/mod/lti/auth.php",
        "LTI_JWKS_URL": "https://moodle.example.edu/mod/lti/certs.php",
        "LTI_USERNAME_CLAIM": "email",
        "LTI_PLATFORM_ORIGINS": "https://moodle.example.edu",
    }
    if setting.name in samples:
        return samples[setting.name]
    if setting.literal_default == "false":
        return "true"
    return "some-value-1234"


def test_a_setting_left_at_its_default_in_another_mode_is_no_problem():
    settings = load({"GITHUB_URL": "https://github.com", "ALLOW_ALL": "False", "OIDC_WAIT_SECONDS": "60"})
    assert settings["AUTH_MODE"] == "password"


def test_a_shared_setting_names_every_mode_it_applies_in():
    assert problems_of({"ALLOW_ALL": "true"})["ALLOW_ALL"].startswith(
        "ALLOW_ALL=(set): only applies when AUTH_MODE=github or oidc or ldap"
    )


def test_a_bad_auth_mode_is_one_problem_not_one_per_mode_setting():
    found = problems_of({"AUTH_MODE": "kerberos", "LDAP_URL": "ldap://dir.example.org"})
    assert set(found) == {"AUTH_MODE"}


@pytest.mark.parametrize("name", LOGIN_MODES)
def test_configure_auth_hands_over_to_the_chosen_modes_configure(name):
    c = Config()
    configure_auth(load({**COMPLETE[name], "ADMIN_PASSWORD": ADMIN_PASSWORD}), c)
    module, _, cls = c.JupyterHub.authenticator_class.rpartition(".")
    assert module == f"appliance.auth.{name}"
    assert cls.startswith("Appliance")


def test_the_doctor_asks_the_chosen_mode(tmp_path: Path):
    settings = load({"AUTH_MODE": "native", "ADMIN_PASSWORD": ADMIN_PASSWORD, "DATA_DIR": str(tmp_path)})
    assert check_auth(settings) == passed("native login (sign-ups approved by an admin), admins admin")
    unset = load({"AUTH_MODE": "native", "DATA_DIR": str(tmp_path)})
    assert not check_auth(unset).ok


def test_misspelt_settings_in_a_modes_family_are_named():
    assert misspelt.misspelt_settings(["LDAP_SERVER"]) == [
        "LDAP_SERVER is not a setting, and is ignored (docs/settings.md lists them)."
    ]


def test_a_mode_settings_take_its_title_and_apply_in_it():
    extra = Setting("LTI_CLIENT_ID", "help", Text())
    mode = LoginMode("lti13", "LTI login", configure=lambda *_: None, diagnose=passed, settings=(extra,))
    (own,) = mode.own_settings
    assert (own.group, str(own.applies_in)) == ("LTI login", "AUTH_MODE=lti13")
