"""OIDC mode's authenticator (oauthenticator's GenericOAuthenticator), with its endpoints read from the issuer's
discovery document; appliance.login.oidc configures it."""

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from oauthenticator.generic import GenericOAuthenticator
from traitlets import Unicode

from appliance.auth.oauth import ProviderLogin
from appliance.auth.waiting import retried_for

DISCOVERY_PATH = "/.well-known/openid-configuration"
# GenericOAuthenticator's trait, and the discovery document's field that gives it.
ENDPOINTS = {
    "authorize_url": "authorization_endpoint",
    "token_url": "token_endpoint",
    "userdata_url": "userinfo_endpoint",
}


class DiscoveryError(Exception):
    """The issuer's discovery document cannot be read, or is not one."""


def discovered_endpoints(issuer: str, ca_file: str | None = None, timeout: float = 10) -> dict[str, str]:
    """GenericOAuthenticator's endpoint traits, from ISSUER/.well-known/openid-configuration."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=timeout, verify=ca_file or True)
    except requests.RequestException as error:
        raise DiscoveryError(f"cannot be reached ({error.__class__.__name__}: {error})") from None
    if response.status_code != 200:
        raise DiscoveryError(f"answered HTTP {response.status_code} at {url}")
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise DiscoveryError(f"answered something that is not an OpenID Connect discovery document at {url}")
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError(f"names another issuer in its discovery document: {document.get('issuer')!r}")
    endpoints = {}
    for trait, field in ENDPOINTS.items():
        value = document.get(field)
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            raise DiscoveryError(f"gives no {field} in its discovery document at {url}")
        endpoints[trait] = value
    return endpoints


def wait_for_issuer(
    issuer: str,
    ca_file: str | None,
    seconds: float,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """The endpoints, retrying for a bounded time: the provider may start a few seconds after the hub."""
    advice = "Check the URL, that the hub can reach it, and OIDC_CA_CERT for a provider with a private CA."
    return retried_for(
        seconds, lambda: discovered_endpoints(issuer, ca_file), DiscoveryError, ("OIDC_ISSUER", issuer), advice,
        report, clock, pause,
    )  # fmt: skip


class ApplianceOIDCAuthenticator(ProviderLogin, GenericOAuthenticator):
    provider = "The OpenID Connect provider"
    settings_to_check = "OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OAUTH_CALLBACK_URL against the client at the provider"

    oidc_issuer = Unicode("", config=True, help="The issuer whose discovery document gives the endpoints.")
    oidc_ca_cert = Unicode("", config=True, help="A PEM CA file for the provider's certificate.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `appliance run` waited for the issuer before the hub started; this reads it once more.
        endpoints = wait_for_issuer(self.oidc_issuer, self.oidc_ca_cert or None, 10, self.log.warning)
        if self.userdata_from_id_token:
            del endpoints["userdata_url"]
        for trait, url in endpoints.items():
            setattr(self, trait, url)
