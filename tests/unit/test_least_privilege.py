"""Credentials never shown, volume names never shared, plain HTTP never silent."""

import subprocess
import sys

import pytest

from appliance.docker_host import probe_options
from appliance.settings import SettingsError, load, plain_http_warning


def appliance_check(environ):
    command = [sys.executable, "-m", "appliance", "check"]
    return subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **environ})


def test_check_redacts_the_password_in_urls_and_credentials_in_driver_options():
    result = appliance_check(
        {
            "DATABASE_URL": "postgresql://hub:s3cret-pw@db:5432/jupyterhub",
            "SPAWNER_MODE": "swarm",
            "USER_NETWORK_ISOLATION": "off",
            "VOLUME_DRIVER": "local",
            "VOLUME_DRIVER_OPTIONS": "type=cifs o=addr=10.0.0.2,username=lab,password=hunter22 device=//fs/homes",
        }
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql+psycopg://hub:<redacted>@db:5432/jupyterhub" in result.stdout
    assert "type=cifs o=addr=10.0.0.2,username=lab,password=<redacted> device=//fs/homes" in result.stdout
    assert "s3cret-pw" not in result.stdout and "hunter22" not in result.stdout


def test_errors_redact_credentials_in_the_values_they_show():
    with pytest.raises(SettingsError) as caught:
        load({"DATABASE_URL": "oracle://hub:s3cret-pw@db/jupyterhub"})
    assert "oracle://hub:<redacted>@db/jupyterhub" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "jh-{username}{servername}",
        "jh-{username}-{servername}",
        "jh-{servername}{username}",
        "jh-{username}-x-{servername}",
    ],
)
def test_volume_templates_that_two_servers_could_share_are_refused_with_the_separator_to_add(template):
    with pytest.raises(SettingsError) as caught:
        load({"USER_VOLUME": template, "NAMED_SERVERS": "2"})
    [problem] = caught.value.problems
    assert problem.name == "USER_VOLUME"
    assert "two different servers could share one volume" in problem.message
    assert "'--' or '_'" in problem.hint


@pytest.mark.parametrize("template", ["jh-{username}--{servername}", "jh-{username}_{servername}", "jh-{username}"])
def test_volume_templates_that_keep_servers_apart_are_accepted(template):
    assert load({"USER_VOLUME": template})["USER_VOLUME"] == template


def test_a_volume_template_without_the_user_is_refused():
    with pytest.raises(SettingsError) as caught:
        load({"USER_VOLUME": "shared-volume"})
    assert "has no {username}, so every user would share one volume" in str(caught.value)


def test_password_login_over_plain_http_on_every_interface_warns_and_names_the_ways_out():
    warning = plain_http_warning(load({}))
    assert warning.startswith("WARNING: the hub takes passwords over plain HTTP on 0.0.0.0:8000")
    assert "Set DOMAIN" in warning and "HUB_BIND=127.0.0.1" in warning


@pytest.mark.parametrize(
    "environ",
    [
        {"AUTH_MODE": "native"},
        {"AUTH_MODE": "ldap", "LDAP_URL": "ldaps://ldap.example.org", "LDAP_SEARCH_BASE": "dc=x", "ALLOW_ALL": "1"},
    ],
)
def test_every_mode_whose_page_takes_a_password_warns_over_plain_http(environ):
    assert plain_http_warning(load(environ)).startswith("WARNING: the hub takes passwords over plain HTTP")


def test_a_mode_that_sends_people_to_their_provider_does_not_warn():
    environ = {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "ALLOWED_USERS": "ann"}
    assert plain_http_warning(load({**environ, "PUBLIC_URL": "http://hub.example.org"})) is None


@pytest.mark.parametrize(
    "environ",
    [{"HUB_BIND": "127.0.0.1"}, {"DOMAIN": "hub.example.org"}, {"PUBLIC_URL": "https://hub.example.org"}],
)
def test_loopback_or_https_do_not_warn(environ):
    assert plain_http_warning(load(environ)) is None


def test_hub_bind_must_be_an_address():
    with pytest.raises(SettingsError) as caught:
        load({"HUB_BIND": "localhost"})
    assert "HUB_BIND='localhost': must be an IP address" in str(caught.value)


GITHUB = {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "PUBLIC_URL": "https://hub.example.org"}
OIDC = {
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://id.example.org",
    "OIDC_CLIENT_ID": "hub",
    "OIDC_CLIENT_SECRET": "s",
    "PUBLIC_URL": "https://hub.example.org",
    "ALLOWED_GROUPS": "staff",
}
SYSTEM = {"SPAWNER_MODE": "system", "HOME_FORMAT": "/home/{username}"}


@pytest.mark.parametrize(
    ("environ", "name", "fragment"),
    [
        ({**GITHUB, "ALLOW_ALL": "true"}, "SYSTEM_USERS_GROUP", "is required in system mode with AUTH_MODE=github"),
        ({**GITHUB, "ALLOWED_ORGANIZATIONS": "lab"}, "SYSTEM_USERS_GROUP", "is required in system mode"),
        ({**OIDC, "OIDC_USERNAME_CLAIM": "uid"}, "SYSTEM_USERS_GROUP", "with AUTH_MODE=oidc"),
        (
            {"USER_PASSWORD": "students-password", "ALLOWED_USERS": "hsys"},
            "USER_PASSWORD",
            "is refused in system mode: the one shared password would open every listed host account",
        ),
    ],
)
def test_system_mode_refuses_logins_that_could_take_over_a_host_account(environ, name, fragment):
    with pytest.raises(SettingsError) as caught:
        load({**SYSTEM, **environ})
    assert [problem.name for problem in caught.value.problems] == [name]
    assert fragment in str(caught.value)
    assert "students-password" not in str(caught.value)


@pytest.mark.parametrize("claim", ["preferred_username", "email", "name"])
def test_system_mode_refuses_an_oidc_username_claim_that_is_not_unique(claim):
    with pytest.raises(SettingsError) as caught:
        load({**SYSTEM, **OIDC, "SYSTEM_USERS_GROUP": "lab", "OIDC_USERNAME_CLAIM": claim})
    assert [problem.name for problem in caught.value.problems] == ["OIDC_USERNAME_CLAIM"]
    assert "is not unique by the OpenID Connect specification" in str(caught.value)


def test_system_mode_accepts_each_login_with_its_safeguard():
    assert load({**SYSTEM, **GITHUB, "ALLOW_ALL": "true", "SYSTEM_USERS_GROUP": "students"})
    assert load({**SYSTEM, **OIDC, "SYSTEM_USERS_GROUP": "lab", "OIDC_USERNAME_CLAIM": "uid"})
    assert load({**SYSTEM, "AUTH_MODE": "native", "ALLOWED_USERS": "hsys"})
    assert load({**SYSTEM, "AUTH_MODE": "password"})  # admins only
    # Outside system mode the shared password and preferred_username stay as they were.
    assert load({"USER_PASSWORD": "students-password", "ALLOWED_USERS": "ann"})
    assert load(OIDC)["OIDC_USERNAME_CLAIM"] == "preferred_username"


def test_the_jupyterhub_version_probe_of_a_user_image_runs_without_privileges():
    options = probe_options({"jupyterhub-appliance.instance": "lab"})
    assert (options["network_disabled"], options["cap_drop"], options["security_opt"]) == (
        True,
        ["ALL"],
        ["no-new-privileges"],
    )
    assert options["user"] == "65534:65534" and options["read_only"] is True
    assert (options["mem_limit"], options["pids_limit"]) == ("256m", 64)
