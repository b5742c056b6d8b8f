"""GitHub mode: OAuth (oauthenticator) that admits only whom the settings name, teams as JupyterHub groups."""

from traitlets.config import Config

from appliance.declarations import LoginMode, Outcome, Problem, Setting, Settings, passed
from appliance.kinds import Flag, NameList, Text, Url
from appliance.login.rules import admits_no_one, callback_off_public_url, callback_problems, required

GITHUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
GITHUB_TEAM = rf"{GITHUB_NAME}:[A-Za-z0-9._-]+"
NOT_ALLOWED_MESSAGE = (
    "Your GitHub account is not allowed on this hub: it is not among the allowed users, "
    "nor a member of an allowed organization or team. Ask the hub's admins to add you."
)

SETTINGS = (
    Setting(
        "GITHUB_CLIENT_ID",
        "Client ID of the GitHub OAuth app, in github mode.",
        Text(describe="the OAuth app's client ID"),
    ),
    Setting(
        "GITHUB_CLIENT_SECRET",
        "Client secret of the GitHub OAuth app, in github mode.",
        Text(describe="the OAuth app's client secret"),
        secret=True,
    ),
    Setting(
        "ALLOWED_ORGANIZATIONS",
        "GitHub organizations (org) or teams (org:team) whose members may log in; requests the read:org scope.",
        NameList("comma-separated org or org:team names", pattern=rf"{GITHUB_NAME}(?::[A-Za-z0-9._-]+)?"),
    ),
    Setting(
        "ADMIN_TEAMS",
        "GitHub teams (org:team) whose members are hub admins; requests the read:org scope.",
        NameList("comma-separated org:team names", pattern=GITHUB_TEAM),
    ),
    Setting(
        "GITHUB_URL",
        "GitHub's address; change it for GitHub Enterprise, whose API is then at GITHUB_URL/api/v3.",
        Url(("http", "https")),
        default="https://github.com",
    ),
    Setting(
        "GITHUB_SCOPES",
        "Scopes of the GitHub token with EXPOSE_GITHUB_TOKEN: public_repo lets git push to public repositories, "
        "repo to private ones too (and read them all); GitHub shows them on its consent page.",
        NameList("space-separated GitHub scopes such as public_repo or repo", pattern=r"[a-z:_]+", separator=" "),
        default="public_repo",
    ),
    Setting(
        "EXPOSE_GITHUB_TOKEN",
        "Put each user's GitHub token, with GITHUB_SCOPES, into their server as GITHUB_TOKEN, so that git push "
        "works; any code that runs in the server can read and use it.",
        Flag(),
        default="false",
    ),
)


def problems(values: Settings) -> list[Problem]:
    """GitHub login needs the OAuth app's credentials, a callback and at least one allow rule: it fails closed."""
    found = required(
        values, "github", ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"), "copy it from the GitHub OAuth app's page"
    )
    found += callback_problems(values, "github")
    if not (values["ALLOWED_USERS"] or values["ALLOWED_ORGANIZATIONS"] or values["ALLOW_ALL"]):
        found.append(
            admits_no_one("github", "ALLOWED_USERS (GitHub user names), ALLOWED_ORGANIZATIONS (org or org:team)")
        )
    return found


def configure(settings: Settings, c: Config) -> None:
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


def diagnose(settings: Settings) -> Outcome:
    return callback_off_public_url(settings) or passed(f"GitHub login, callback {settings['OAUTH_CALLBACK_URL']}")


MODE = LoginMode("github", "GitHub login", configure, diagnose, SETTINGS, problems, family="GITHUB_")
