"""GitHub login settings: fail closed, derived callback, read:org when needed, admin teams, token passthrough."""

from types import SimpleNamespace

import pytest
from oauthenticator.github import GitHubOAuthenticator
from traitlets.config import Config

from appliance.hub_config import apply
from appliance.login.github import NOT_ALLOWED_MESSAGE, expose_github_token, github_team_names
from appliance.settings import SettingsError, load

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}
GITHUB_APP = {
    "GITHUB_CLIENT_ID": "app-id",
    "GITHUB_CLIENT_SECRET": "app-secret",
    "PUBLIC_URL": "https://hub.example.org",
}


def authenticator(**environ) -> GitHubOAuthenticator:
    c = Config()
    apply(load({**SECRETS, **GITHUB_APP, **environ}), c)
    assert c.JupyterHub.authenticator_class == "appliance.auth.github.ApplianceGitHubOAuthenticator"
    return GitHubOAuthenticator(config=c)


def problem_names(environ) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(environ)
    return [problem.name for problem in caught.value.problems]


def test_no_allow_rule_fails_closed_and_names_every_fix():
    with pytest.raises(SettingsError) as caught:
        load(GITHUB_APP)
    [problem] = caught.value.problems
    assert problem.name == "ALLOWED_USERS"
    assert "refuses to start" in problem.message
    for fix in ("ALLOWED_USERS", "ALLOWED_ORGANIZATIONS", "ALLOW_ALL=true"):
        assert fix in problem.hint


@pytest.mark.parametrize("rule", [{"ALLOWED_USERS": "ann"}, {"ALLOWED_ORGANIZATIONS": "lab"}, {"ALLOW_ALL": "true"}])
def test_any_one_allow_rule_is_enough(rule):
    assert load({**GITHUB_APP, **rule})["AUTH_MODE"] == "github"


def test_admin_users_have_no_default_in_github_mode():
    assert load({**GITHUB_APP, "ALLOW_ALL": "yes"})["ADMIN_USERS"] is None


def test_callback_is_derived_from_public_url_or_set_explicitly():
    derived = load({**GITHUB_APP, "ALLOWED_USERS": "ann", "PUBLIC_URL": "https://hub.example.org/"})
    assert derived["OAUTH_CALLBACK_URL"] == "https://hub.example.org/hub/oauth_callback"
    explicit = load({**GITHUB_APP, "ALLOWED_USERS": "ann", "OAUTH_CALLBACK_URL": "https://other.example/cb"})
    assert explicit["OAUTH_CALLBACK_URL"] == "https://other.example/cb"


def test_callback_needs_public_url_or_its_own_setting():
    environ = {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "secret", "ALLOWED_USERS": "ann"}
    assert problem_names(environ) == ["OAUTH_CALLBACK_URL"]


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"ALLOWED_ORGANIZATIONS": "lab:"}, "ALLOWED_ORGANIZATIONS"),
        ({"ALLOWED_ORGANIZATIONS": "-lab"}, "ALLOWED_ORGANIZATIONS"),
        ({"ADMIN_TEAMS": "lab"}, "ADMIN_TEAMS"),
        ({"ALLOW_ALL": "maybe"}, "ALLOW_ALL"),
        ({"GITHUB_URL": "github.example.org"}, "GITHUB_URL"),
    ],
)
def test_malformed_github_settings_are_named(environ, name):
    assert name in problem_names({**GITHUB_APP, "ALLOWED_USERS": "ann", **environ})


@pytest.mark.parametrize("name", ["ALLOWED_ORGANIZATIONS", "ADMIN_TEAMS", "ALLOW_ALL", "EXPOSE_GITHUB_TOKEN"])
def test_github_only_settings_are_refused_in_password_mode(name):
    value = "true" if name in ("ALLOW_ALL", "EXPOSE_GITHUB_TOKEN") else "lab:staff"
    assert problem_names({"AUTH_MODE": "password", name: value}) == [name]


def test_plain_user_list_asks_for_no_extra_scope():
    github = authenticator(ALLOWED_USERS="ann", ADMIN_USERS="prof")
    assert github.scope == []
    assert github.allowed_users == {"ann", "prof"}
    assert github.admin_users == {"prof"}
    assert github.enable_auth_state is True
    assert github.custom_403_message == NOT_ALLOWED_MESSAGE


def test_organizations_request_read_org_and_their_teams_become_groups():
    github = authenticator(ALLOWED_ORGANIZATIONS="lab,school:physics")
    assert github.scope == ["read:org"]
    assert github.allowed_organizations == {"lab", "school:physics"}
    assert github.manage_groups is True
    assert github.admin_groups == set()


def test_an_exposed_token_gets_a_scope_that_can_push():
    assert authenticator(ALLOWED_USERS="ann", EXPOSE_GITHUB_TOKEN="true").scope == ["public_repo"]
    private = authenticator(ALLOWED_ORGANIZATIONS="lab", EXPOSE_GITHUB_TOKEN="true", GITHUB_SCOPES="repo")
    assert private.scope == ["read:org", "repo"]
    assert problem_names({**GITHUB_APP, "ALLOWED_USERS": "ann", "GITHUB_SCOPES": "repo,user"}) == ["GITHUB_SCOPES"]


def test_admin_teams_become_admin_groups_from_the_teams_in_auth_state():
    github = authenticator(ALLOWED_USERS="ann", ADMIN_TEAMS="lab:staff")
    assert github.scope == ["read:org"]
    assert github.manage_groups is True
    assert github.populate_teams_in_auth_state is True
    assert github.admin_groups == {"lab:staff"}
    teams = {"teams": [{"slug": "staff", "organization": {"login": "lab"}}]}
    assert github.auth_state_groups_key is github_team_names
    assert github_team_names(teams) == ["lab:staff"]


def test_github_enterprise_url_moves_every_endpoint():
    github = authenticator(ALLOWED_USERS="ann", GITHUB_URL="https://git.example.edu")
    assert github.authorize_url == "https://git.example.edu/login/oauth/authorize"
    assert github.token_url == "https://git.example.edu/login/oauth/access_token"
    assert github.userdata_url == "https://git.example.edu/api/v3/user"


def test_token_reaches_the_server_only_when_exposed():
    c = Config()
    apply(load({**SECRETS, **GITHUB_APP, "ALLOWED_USERS": "ann"}), c)
    assert "auth_state_hook" not in c.Spawner
    apply(load({**SECRETS, **GITHUB_APP, "ALLOWED_USERS": "ann", "EXPOSE_GITHUB_TOKEN": "true"}), c)
    assert c.Spawner.auth_state_hook is expose_github_token

    spawner = SimpleNamespace(environment={"KEEP": "1"})
    expose_github_token(spawner, {"access_token": "gho_abc"})
    assert spawner.environment == {"KEEP": "1", "GITHUB_TOKEN": "gho_abc"}
