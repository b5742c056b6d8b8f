"""GitHub mode's authenticator: oauthenticator's, with provider errors shown as such (appliance.login.github
configures it)."""

from oauthenticator.github import GitHubOAuthenticator

from appliance.auth.oauth import ProviderLogin


class ApplianceGitHubOAuthenticator(ProviderLogin, GitHubOAuthenticator):
    provider = "GitHub"
    settings_to_check = (
        "GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and OAUTH_CALLBACK_URL against the GitHub OAuth app's settings"
    )
