"""HTTPS settings: DOMAIN turns it on, PUBLIC_URL follows, supplied certificates are checked, Caddy's config."""

import pytest

from appliance.settings import SettingsError, load
from appliance.tls import caddyfile, https_enabled
from tests.certificates import CertificateAuthority, write_private_key

DOMAIN = "hub.example.org"


def write_self_signed(folder):
    return CertificateAuthority.create("test CA").issue(folder, "cert", [DOMAIN])


def problems(environ) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load(environ)
    return {problem.name: problem.message for problem in caught.value.problems}


def test_without_domain_the_hub_stays_plain_http():
    settings = load({})
    assert not https_enabled(settings)
    assert settings["PUBLIC_URL"] is None


def test_domain_turns_https_on_and_derives_public_url_and_callback():
    settings = load({"DOMAIN": DOMAIN})
    assert https_enabled(settings)
    assert settings["PUBLIC_URL"] == f"https://{DOMAIN}"
    assert settings["OAUTH_CALLBACK_URL"] == f"https://{DOMAIN}/hub/oauth_callback"
    assert load({"DOMAIN": DOMAIN, "HTTPS_PORT": "8443"})["PUBLIC_URL"] == f"https://{DOMAIN}:8443"


@pytest.mark.parametrize("domain", ["Hub.Example.org", "hub_example.org", "-hub.example.org", "localhost", "a..b"])
def test_an_invalid_domain_is_refused(domain):
    assert "DOMAIN" in problems({"DOMAIN": domain})


def test_caddy_gets_acme_with_storage_in_data_dir_hsts_and_the_proxy():
    config = caddyfile(load({"DOMAIN": DOMAIN, "ACME_EMAIL": "admin@example.org", "ACME_DIRECTORY": "staging"}))
    assert "acme_ca https://acme-staging-v02.api.letsencrypt.org/directory" in config
    assert "storage file_system /data/tls" in config
    assert "\thttp_port 8080" in config and "\thttps_port 8443" in config, "unprivileged ports: Caddy is not root"
    assert "email admin@example.org" in config
    assert f"{DOMAIN} {{" in config
    assert 'header Strict-Transport-Security "max-age=31536000"' in config
    assert "reverse_proxy 127.0.0.1:8000" in config
    assert "\ttls " not in config


def test_a_private_acme_server_and_its_root(tmp_path):
    root = tmp_path / "root.pem"
    root.write_text("pem")
    config = caddyfile(load({"DOMAIN": DOMAIN, "ACME_DIRECTORY": "https://ca.internal/dir", "ACME_CA_ROOT": str(root)}))
    assert "acme_ca https://ca.internal/dir" in config
    assert f"acme_ca_root {root}" in config


def test_supplied_certificate_and_key_are_served(tmp_path):
    cert, key = write_self_signed(tmp_path)
    config = caddyfile(load({"DOMAIN": DOMAIN, "TLS_CERT": str(cert), "TLS_KEY": str(key)}))
    # Caddy reads private copies, made for its account at start, not the mounted files.
    assert "\ttls /run/appliance/tls/cert.pem /run/appliance/tls/key.pem" in config


def test_a_missing_key_file_is_named(tmp_path):
    cert, _ = write_self_signed(tmp_path)
    found = problems({"DOMAIN": DOMAIN, "TLS_CERT": str(cert), "TLS_KEY": str(tmp_path / "absent.pem")})
    assert "cannot be read" in found["TLS_KEY"]


def test_a_certificate_with_someone_elses_key_is_named(tmp_path):
    cert, _ = write_self_signed(tmp_path)
    write_private_key(tmp_path / "other.pem")
    found = problems({"DOMAIN": DOMAIN, "TLS_CERT": str(cert), "TLS_KEY": str(tmp_path / "other.pem")})
    assert "does not belong to the certificate" in found["TLS_KEY"]


def test_certificate_without_key_or_domain_is_named(tmp_path):
    cert, key = write_self_signed(tmp_path)
    assert "TLS_KEY" in problems({"DOMAIN": DOMAIN, "TLS_CERT": str(cert)})
    assert "DOMAIN" in problems({"TLS_CERT": str(cert), "TLS_KEY": str(key)})


def test_garbage_instead_of_a_certificate_is_named(tmp_path):
    _, key = write_self_signed(tmp_path)
    (tmp_path / "garbage.pem").write_text("not a certificate")
    found = problems({"DOMAIN": DOMAIN, "TLS_CERT": str(tmp_path / "garbage.pem"), "TLS_KEY": str(key)})
    assert "is not a PEM certificate" in found["TLS_CERT"]
