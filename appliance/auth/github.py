"""GitHub mode: OAuth that admits only whom the settings name."""

from oauthenticator.github import GitHubOAuthenticator
from tornado import web
from traitlets.config import Config

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
    # Private org and team membership is invisible without read:org.
    github.scope = ["read:org"] if settings["ALLOWED_ORGANIZATIONS"] or settings["ADMIN_TEAMS"] else []
    github.enable_auth_state = True
    github.custom_403_message = NOT_ALLOWED_MESSAGE
    if settings["ADMIN_TEAMS"]:
        github.populate_teams_in_auth_state = True
        github.manage_groups = True
        github.auth_state_groups_key = github_team_names
        github.admin_groups = set(settings["ADMIN_TEAMS"])
    if settings["EXPOSE_GITHUB_TOKEN"]:
        c.Spawner.auth_state_hook = expose_github_token


def github_team_names(auth_state: dict) -> list[str]:
    """The user's teams as org:team, the form ADMIN_TEAMS uses."""
    return [f"{team['organization']['login']}:{team['slug']}" for team in auth_state.get("teams", [])]


def expose_github_token(spawner, auth_state: dict | None) -> None:
    if auth_state:
        spawner.environment = {**spawner.environment, "GITHUB_TOKEN": auth_state["access_token"]}


class ApplianceGitHubOAuthenticator(GitHubOAuthenticator):
    """GitHubOAuthenticator that names the settings to check when GitHub refuses the app's credentials."""

    async def get_token_info(self, handler, params):
        try:
            return await super().get_token_info(handler, params)
        except web.HTTPError as error:
            self.log.error(
                "GitHub did not issue a token (%s). Check GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and "
                "OAUTH_CALLBACK_URL against the GitHub OAuth app's settings.",
                error.log_message,
            )
            raise
