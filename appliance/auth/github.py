"""GitHub mode: OAuth that admits only whom the settings name."""

from oauthenticator.github import GitHubOAuthenticator
from traitlets.config import Config

from appliance.auth.oauth import ProviderLogin
from appliance.settings import Settings

NOT_ALLOWED_MESSAGE = (
    "Your GitHub account is not allowed on this hub: it is not among the allowed users, "
    "nor a member of an allowed organization or team. Ask the hub's admins to add you."
)


def configure_github(settings: Settings, c: Config) -> None:
    c.JupyterHub.authenticator_class = "appliance.auth.github.ApplianceGitHubOAuthenticator"
    github = c.GitHubOAuthenticator
    github.client_id = settings["GITHUB_CLIENT_ID"]
    github.client_secret = settings["GITHUB_CLIENT_SECRET"]
    github.oauth_callback_url = settings["OAUTH_CALLBACK_URL"]
    github.github_url = settings["GITHUB_URL"]
    github.allow_all = settings["ALLOW_ALL"]
    github.allowed_organizations = set(settings["ALLOWED_ORGANIZATIONS"] or ())
    github.scope = github_scopes(settings)
    github.enable_auth_state = True
    github.custom_403_message = NOT_ALLOWED_MESSAGE
    if reads_org(settings):
        # The user's teams become JupyterHub groups (org:team), refreshed at each login.
        github.populate_teams_in_auth_state = True
        github.manage_groups = True
        github.auth_state_groups_key = github_team_names
        github.admin_groups = set(settings["ADMIN_TEAMS"] or ())
    if settings["EXPOSE_GITHUB_TOKEN"]:
        c.Spawner.auth_state_hook = expose_github_token


def reads_org(settings: Settings) -> bool:
    """Organization and team rules need read:org: without it GitHub hides private memberships."""
    return bool(settings["ALLOWED_ORGANIZATIONS"] or settings["ADMIN_TEAMS"])


def github_scopes(settings: Settings) -> list[str]:
    """read:org for the organization and team rules; GITHUB_SCOPES for a token that can push."""
    scopes = ["read:org"] if reads_org(settings) else []
    if settings["EXPOSE_GITHUB_TOKEN"]:
        scopes += [scope for scope in settings["GITHUB_SCOPES"] if scope not in scopes]
    return scopes


def github_team_names(auth_state: dict) -> list[str]:
    """The user's teams as org:team, the form ADMIN_TEAMS uses."""
    return [f"{team['organization']['login']}:{team['slug']}" for team in auth_state.get("teams", [])]


def expose_github_token(spawner, auth_state: dict | None) -> None:
    if auth_state:
        spawner.environment = {**spawner.environment, "GITHUB_TOKEN": auth_state["access_token"]}


class ApplianceGitHubOAuthenticator(ProviderLogin, GitHubOAuthenticator):
    provider = "GitHub"
    settings_to_check = (
        "GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and OAUTH_CALLBACK_URL against the GitHub OAuth app's settings"
    )
