"""OpenID Connect and LDAP login: settings that fail closed, the config they become, and discovery against a
real OpenID Connect provider on loopback."""

import asyncio
import http.server
import json
import ssl
import threading

import oidc_provider_mock
import pytest
from ldapauthenticator import LDAPAuthenticator
from oauthenticator.generic import GenericOAuthenticator
from traitlets.config import Config
from werkzeug.serving import make_server

from appliance.auth.ldap import group_name
from appliance.auth.oidc import ENDPOINTS, DiscoveryError, discovered_endpoints, wait_for_issuer
from appliance.hub_config import apply
from appliance.settings import SettingsError, load
from tests.certificates import CertificateAuthority

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}
OIDC = {
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://sso.example.org/realms/lab",
    "OIDC_CLIENT_ID": "hub",
    "OIDC_CLIENT_SECRET": "client-secret",
    "PUBLIC_URL": "https://hub.example.org",
    "ALLOWED_GROUPS": "students,staff",
}
LDAP = {
    "AUTH_MODE": "ldap",
    "LDAP_URL": "ldap://ldap.example.org",
    "LDAP_BIND_DN_TEMPLATE": "uid={username},ou=people,dc=example,dc=org",
    "LDAP_ALLOWED_GROUPS": "cn=students,ou=groups,dc=example,dc=org",
}


def configured(**environ) -> Config:
    c = Config()
    apply(load({**SECRETS, **environ}), c)
    return c


def problems(**environ) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load({**SECRETS, **environ})
    return {problem.name: problem.message for problem in caught.value.problems}


def test_oidc_becomes_a_generic_oauthenticator_with_pkce_groups_and_the_derived_callback():
    c = configured(**OIDC, ADMIN_GROUPS="staff", OIDC_SCOPES="openid profile email groups")
    assert c.JupyterHub.authenticator_class == "appliance.auth.oidc.ApplianceOIDCAuthenticator"
    oidc = GenericOAuthenticator(config=c)  # the appliance's subclass adds only discovery, tested below
    oidc.update_config(Config({"GenericOAuthenticator": c.ApplianceOIDCAuthenticator}))
    assert oidc.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    assert oidc.enable_pkce is True
    assert oidc.scope == ["openid", "profile", "email", "groups"]
    assert oidc.username_claim == "preferred_username"
    assert oidc.manage_groups is True
    assert oidc.allowed_groups == {"students", "staff"}
    assert oidc.admin_groups == {"staff"}
    assert asyncio.run(oidc.get_user_groups({"oauth_user": {"groups": ["staff", "x"]}})) == {"staff", "x"}
    assert oidc.allow_existing_users is False


def test_oidc_fails_closed_without_an_allow_rule_or_its_client():
    found = problems(**{**OIDC, "ALLOWED_GROUPS": "", "OIDC_CLIENT_SECRET": "", "PUBLIC_URL": ""})
    assert "admits no one" in found["ALLOWED_USERS"]
    assert "required when AUTH_MODE=oidc" in found["OIDC_CLIENT_SECRET"]
    assert "PUBLIC_URL is unset too" in found["OAUTH_CALLBACK_URL"]
    assert "a URL" in problems(**{**OIDC, "OIDC_ISSUER": "sso.example.org"})["OIDC_ISSUER"]
    assert "required when AUTH_MODE=oidc" in problems(**{**OIDC, "OIDC_ISSUER": ""})["OIDC_ISSUER"]
    assert "only applies when AUTH_MODE=oidc" in problems(ALLOWED_GROUPS="staff")["ALLOWED_GROUPS"]
    load({**SECRETS, **OIDC, "ALLOWED_GROUPS": "", "ALLOW_ALL": "true"})


def test_ldap_uses_starttls_with_a_verified_certificate_and_group_dns():
    c = configured(**LDAP, LDAP_ADMIN_GROUPS="cn=staff,ou=groups,dc=example,dc=org")
    ldap = LDAPAuthenticator(config=c)
    assert (ldap.server_address, ldap.server_port, ldap.tls_strategy.name) == ("ldap.example.org", 389, "before_bind")
    assert ldap.tls_kwargs["validate"] == ssl.CERT_REQUIRED
    assert ldap.bind_dn_template == ["uid={username},ou=people,dc=example,dc=org"]
    assert ldap.allowed_groups == ["cn=students,ou=groups,dc=example,dc=org", "cn=staff,ou=groups,dc=example,dc=org"]
    assert c.ApplianceLDAPAuthenticator.admin_group_dns == ["cn=staff,ou=groups,dc=example,dc=org"]
    ldaps = LDAPAuthenticator(config=configured(**{**LDAP, "LDAP_URL": "ldaps://ldap.example.org"}))
    assert (ldaps.server_port, ldaps.tls_strategy.name) == (636, "on_connect")


def test_ldap_looks_a_dn_up_with_the_hubs_own_bind():
    c = configured(
        **{**LDAP, "LDAP_BIND_DN_TEMPLATE": ""},
        LDAP_SEARCH_BASE="ou=people,dc=example,dc=org",
        LDAP_BIND_USER="cn=hub,dc=example,dc=org",
        LDAP_BIND_PASSWORD="hub-bind-password",
    )
    ldap = LDAPAuthenticator(config=c)
    assert ldap.lookup_dn is True
    assert (ldap.user_search_base, ldap.user_attribute) == ("ou=people,dc=example,dc=org", "uid")
    assert ldap.lookup_dn_search_user == "cn=hub,dc=example,dc=org"


def test_ldap_refuses_plain_text_without_the_opt_in_and_other_contradictions():
    assert LDAPAuthenticator(config=configured(**LDAP, LDAP_ALLOW_PLAINTEXT="true")).tls_strategy.name == "insecure"
    assert "ldap://" in problems(**{**LDAP, "LDAP_URL": "http://x"})["LDAP_URL"]
    assert "exactly one way" in problems(**LDAP, LDAP_SEARCH_BASE="ou=people,dc=x")["LDAP_BIND_DN_TEMPLATE"]
    assert "admits no one" in problems(**{**LDAP, "LDAP_ALLOWED_GROUPS": ""})["ALLOWED_USERS"]
    assert "needs LDAP_BIND_USER" in problems(**LDAP, LDAP_BIND_PASSWORD="pw")["LDAP_BIND_PASSWORD"]
    assert (
        "contradicts" in problems(**{**LDAP, "LDAP_URL": "ldaps://x"}, LDAP_ALLOW_PLAINTEXT="1")["LDAP_ALLOW_PLAINTEXT"]
    )
    assert "{username}" in problems(**{**LDAP, "LDAP_BIND_DN_TEMPLATE": "uid=x,dc=org"})["LDAP_BIND_DN_TEMPLATE"]


def test_a_group_dn_becomes_the_jupyterhub_group_of_its_first_value():
    assert group_name("cn=staff,ou=groups,dc=example,dc=org") == "staff"
    assert group_name("ou=groups") == "groups"


@pytest.fixture(scope="module")
def provider():
    """A real OpenID Connect provider (oidc-provider-mock) on loopback."""
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_discovery_gives_the_endpoints_of_a_real_provider(provider):
    endpoints = discovered_endpoints(provider)
    assert endpoints == {
        "authorize_url": f"{provider}/oauth2/authorize",
        "token_url": f"{provider}/oauth2/token",
        "userdata_url": f"{provider}/userinfo",
    }


def test_discovery_of_a_path_that_is_no_issuer_is_named_so(provider):
    with pytest.raises(DiscoveryError, match="answered HTTP 404"):
        discovered_endpoints(f"{provider}/not-an-issuer")


@pytest.fixture
def serve():
    """Serve one fixed answer on loopback: a web server that is not (quite) an OpenID Connect provider.
    The answer is made from the server's own URL."""
    servers = []

    def start(answer) -> str:
        class Answer(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(answer(url))

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()


def test_an_answer_that_is_no_discovery_document_of_this_issuer_is_named_so(serve):
    with pytest.raises(DiscoveryError, match="not an OpenID Connect discovery document"):
        discovered_endpoints(serve(lambda url: b"<html>hello</html>"))
    with pytest.raises(DiscoveryError, match="names another issuer in its discovery document: 'https://elsewhere'"):
        discovered_endpoints(serve(lambda url: json.dumps({"issuer": "https://elsewhere"}).encode()))

    def without_token_endpoint(url: str) -> bytes:
        return json.dumps(
            {"issuer": url, "authorization_endpoint": f"{url}/a", "userinfo_endpoint": f"{url}/u"}
        ).encode()

    with pytest.raises(DiscoveryError, match="gives no token_endpoint"):
        discovered_endpoints(serve(without_token_endpoint))


def test_a_provider_with_a_private_ca_is_trusted_through_oidc_ca_cert_only(tmp_path):
    ca = CertificateAuthority.create("the lab's private CA")
    ca_file = ca.write(tmp_path / "lab-ca.pem")
    cert, key = ca.issue(tmp_path, "sso", ["localhost"], ips=("127.0.0.1",))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DiscoveryOfItself)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"https://127.0.0.1:{server.server_port}"
    try:
        assert discovered_endpoints(issuer, str(ca_file))["token_url"] == f"{issuer}/token"
        with pytest.raises(DiscoveryError, match="SSLError"):
            discovered_endpoints(issuer)
    finally:
        server.shutdown()


class DiscoveryOfItself(http.server.BaseHTTPRequestHandler):
    """A discovery document naming this server (over HTTPS) as the issuer."""

    def do_GET(self):
        issuer = f"https://127.0.0.1:{self.server.server_port}"
        endpoints = {name: f"{issuer}/{name.split('_')[0]}" for name in ENDPOINTS.values()}
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps({"issuer": issuer, **endpoints}).encode())

    def log_message(self, *args):
        pass


def test_the_wait_for_an_issuer_is_bounded_and_names_the_setting():
    with socket_without_listener() as url:
        clock, reports = FakeClock(), []
        with pytest.raises(DiscoveryError, match=r"OIDC_ISSUER='http://127\.0\.0\.1:\d+' cannot be reached") as caught:
            wait_for_issuer(url, None, 7, reports.append, clock=clock, pause=clock.advance)
    assert "tried 4 times in 7 s" in str(caught.value)
    assert len(reports) == 3 and "attempt 1" in reports[0]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class socket_without_listener:
    """A loopback port that nothing listens on."""

    def __enter__(self):
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def __exit__(self, *exc):
        self.socket.close()
