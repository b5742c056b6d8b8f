"""Parsing and checking of every setting, from a plain environment dict."""

import pytest

from appliance import __version__
from appliance.database import connect_url
from appliance.postgres import libpq_target
from appliance.settings import SETTINGS, SettingsError, load

GOOD_ADMIN_PASSWORD = "a" * 32


def problems_of(environ):
    with pytest.raises(SettingsError) as caught:
        load(environ)
    return caught.value


def test_empty_environment_gives_the_documented_defaults():
    settings = load({})
    assert settings["SPAWNER_MODE"] == "docker"
    assert settings["AUTH_MODE"] == "password"
    assert settings["ADMIN_USERS"] == ("admin",)
    assert settings["CONTAINER_NAMES"] is None, "decided at the hub's first start"
    assert settings["USER_VOLUME"] == "{instance}-user-{username}"
    assert load({"CONTAINER_NAMES": "legacy"})["USER_VOLUME"] == "jupyterhub-user-{username}"
    assert settings["DOCKER_NETWORK"] == "jupyterhub-appliance"
    assert settings["DATA_DIR"] == "/data"
    assert settings["DATABASE_URL"] == "sqlite:////data/jupyterhub.sqlite"
    assert settings["HUB_PORT"] == 8000
    assert settings["MEM_LIMIT"] == "2G"
    assert settings["CPU_LIMIT"] == 1.0
    assert settings["PIDS_LIMIT"] == 512
    assert settings["IDLE_TIMEOUT"] == 3600
    assert settings["READ_ONLY_ROOTFS"] is False


def test_empty_values_count_as_unset():
    assert load({"SPAWNER_MODE": "", "HUB_PORT": ""}) == load({})


def test_auth_mode_follows_github_client_id():
    settings = load(
        {
            "GITHUB_CLIENT_ID": "id",
            "GITHUB_CLIENT_SECRET": "secret",
            "PUBLIC_URL": "https://hub.example.org",
            "ALLOWED_USERS": "octocat",
        }
    )
    assert settings["AUTH_MODE"] == "github"


def test_database_url_follows_data_dir():
    assert load({"DATA_DIR": "/srv/hub/"})["DATABASE_URL"] == "sqlite:////srv/hub/jupyterhub.sqlite"


def test_derived_defaults_follow_parsed_values_not_raw_text():
    # HTTPS_PORT parses to 443, the standard port, so the derived PUBLIC_URL and callback carry none.
    settings = load({"DOMAIN": "hub.example.org", "HTTPS_PORT": "0443"})
    assert settings["PUBLIC_URL"] == "https://hub.example.org"
    assert settings["OAUTH_CALLBACK_URL"] == "https://hub.example.org/hub/oauth_callback"
    assert load({"DOMAIN": "hub.example.org", "HTTPS_PORT": "8443"})["PUBLIC_URL"] == "https://hub.example.org:8443"


def test_a_default_derived_from_a_bad_setting_is_not_a_problem_of_its_own():
    error = problems_of({"DATA_DIR": "relative/dir"})
    assert [problem.name for problem in error.problems] == ["DATA_DIR"]


def test_lists_and_numbers_are_parsed():
    settings = load({"ADMIN_USERS": "ann, bob", "CPU_LIMIT": "1.5", "MEM_LIMIT": "2G", "LOG_LEVEL": "debug"})
    assert settings["ADMIN_USERS"] == ("ann", "bob")
    assert settings["CPU_LIMIT"] == 1.5
    assert settings["MEM_LIMIT"] == "2G"
    assert settings["LOG_LEVEL"] == "DEBUG"


BAD_ENVIRONMENTS = [
    ({"SPAWNER_MODE": "kubernetes"}, "SPAWNER_MODE", "must be one of: docker"),
    (
        {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off", "SWARM_PLACEMENT": "gpu"},
        "SWARM_PLACEMENT",
        "constraints like node.labels",
    ),
    ({"SWARM_PLACEMENT": "node.role==worker"}, "SWARM_PLACEMENT", "only applies when SPAWNER_MODE=swarm"),
    (
        {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off", "READ_ONLY_ROOTFS": "true"},
        "READ_ONLY_ROOTFS",
        "not available in swarm mode",
    ),
    (
        {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off", "VOLUME_DRIVER_OPTIONS": "type=nfs"},
        "VOLUME_DRIVER_OPTIONS",
        "needs VOLUME_DRIVER",
    ),
    (
        {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off", "SWARM_HOMES": "/srv/homes", "VOLUME_DRIVER": "nfs"},
        "SWARM_HOMES",
        "cannot be used with VOLUME_DRIVER",
    ),
    (
        {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off", "SWARM_HOMES": "homes"},
        "SWARM_HOMES",
        "absolute path",
    ),
    ({"SWARM_HOMES": "/srv/homes"}, "SWARM_HOMES", "only applies when SPAWNER_MODE=swarm"),
    ({"AUTH_MODE": "kerberos"}, "AUTH_MODE", "password, native, github, oidc, ldap"),
    ({"AUTH_MODE": "native", "MIN_PASSWORD_LENGTH": "3"}, "MIN_PASSWORD_LENGTH", "from 8 to 72"),
    ({"LOGIN_ATTEMPTS": "0"}, "LOGIN_ATTEMPTS", "from 1 to 1000"),
    ({"LOCKOUT_SECONDS": "forever"}, "LOCKOUT_SECONDS", "a whole number"),
    ({"AUTH_MODE": "native", "OPEN_SIGNUP": "maybe"}, "OPEN_SIGNUP", "true or false"),
    ({"PULL_AHEAD": "sometimes"}, "PULL_AHEAD", "true or false"),
    ({"PROFILES_FILE": "/etc/appliance/missing.yml"}, "PROFILES_FILE", "cannot be read: No such file"),
    ({"OPEN_SIGNUP": "true"}, "OPEN_SIGNUP", "only applies when AUTH_MODE=native"),
    ({"AUTH_MODE": "native", "USER_PASSWORD": "shared-pw"}, "USER_PASSWORD", "only applies when AUTH_MODE=password"),
    ({"AUTH_MODE": "native", "ALLOW_ALL": "true"}, "ALLOW_ALL", "only applies when AUTH_MODE=github"),
    (
        {"AUTH_MODE": "native", "OPEN_SIGNUP": "true", "SPAWNER_MODE": "system"},
        "OPEN_SIGNUP",
        "anyone could sign up with the name of a host account",
    ),
    ({"CPU_LIMIT": "two"}, "CPU_LIMIT", "a number above 0"),
    ({"CPU_LIMIT": "-1"}, "CPU_LIMIT", "a number above 0"),
    ({"MEM_LIMIT": "lots"}, "MEM_LIMIT", "512M or 2G"),
    ({"HUB_PORT": "70000"}, "HUB_PORT", "from 1 to 65535"),
    ({"PUBLIC_URL": "hub.example.org"}, "PUBLIC_URL", "http:// or https://"),
    ({"PUBLIC_URL": "https://"}, "PUBLIC_URL", "http:// or https://"),
    ({"DATABASE_URL": "oracle://x"}, "DATABASE_URL", "postgresql://USER[:PASSWORD]@HOST"),
    ({"DATABASE_URL": "postgresql://"}, "DATABASE_URL", "names no host, no user, no database name"),
    ({"DATABASE_URL": "postgresql://hub@db"}, "DATABASE_URL", "names no database name"),
    ({"DATABASE_URL": "mysql://hub:pw@db/jupyterhub"}, "DATABASE_URL", "does not support"),
    ({"DATABASE_URL": "postgresql+psycopg2://hub@db/jupyterhub"}, "DATABASE_URL", "psycopg 3 is the hub image's only"),
    ({"DATABASE_URL": "sqlite:///"}, "DATABASE_URL", "names no file"),
    ({"DATABASE_WAIT_SECONDS": "0"}, "DATABASE_WAIT_SECONDS", "from 1 to 3600"),
    ({"DATABASE_PASSWORD_FILE": "/nonexistent/password"}, "DATABASE_PASSWORD_FILE", "cannot be read"),
    ({"DATA_DIR": "data"}, "DATA_DIR", "absolute path"),
    ({"ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD", "at least 32 characters"),
    ({"USER_PASSWORD": "short", "ALLOWED_USERS": "ann"}, "USER_PASSWORD", "at least 8 characters"),
    ({"USER_VOLUME": "vol-{user}"}, "USER_VOLUME", "{username}"),
    ({"USER_VOLUME": "/abs/{username}"}, "USER_VOLUME", "Docker name"),
    ({"DOCKER_NETWORK": "bad name"}, "DOCKER_NETWORK", "Docker network name"),
    ({"ADMIN_USERS": "ann,,bob"}, "ADMIN_USERS", "empty entry"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "DEBUG, INFO"),
    (
        {"AUTH_MODE": "github", "GITHUB_CLIENT_SECRET": "s", "PUBLIC_URL": "https://h", "ALLOWED_USERS": "ann"},
        "GITHUB_CLIENT_ID",
        "required when AUTH_MODE=github",
    ),
    ({"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s", "PUBLIC_URL": "https://h"}, "ALLOWED_USERS", "admits"),
    ({"USER_PASSWORD": "12345678"}, "ALLOWED_USERS", "no one may use it"),
    (
        {"ADMIN_PASSWORD": GOOD_ADMIN_PASSWORD, "USER_PASSWORD": GOOD_ADMIN_PASSWORD, "ALLOWED_USERS": "ann"},
        "USER_PASSWORD",
        "must differ from ADMIN_PASSWORD",
    ),
    ({"JPY_COOKIE_SECRET": "not-hex"}, "JPY_COOKIE_SECRET", "64 hex digits"),
    ({"APPLIANCE_VERSION": "v0.2.0"}, "APPLIANCE_VERSION", "a version such as 1.2.3"),
    ({"IMAGE_REGISTRY": "https://ghcr.io/owner"}, "IMAGE_REGISTRY", "ghcr.io/owner"),
]


def test_the_image_registry_and_pinned_versions_are_the_published_tags():
    assert load({})["APPLIANCE_VERSION"] == __version__
    for tag in ("0.2.0", "0.2", "latest", "1.0.0-rc1"):
        assert load({"APPLIANCE_VERSION": tag})["APPLIANCE_VERSION"] == tag
    registry = "registry.example.org:5000/lab"
    assert load({"IMAGE_REGISTRY": registry})["SINGLEUSER_IMAGE"] == (
        f"{registry}/jupyterhub-appliance-singleuser:{__version__}"
    )


@pytest.mark.parametrize(("environ", "name", "fragment"), BAD_ENVIRONMENTS, ids=[b[1] for b in BAD_ENVIRONMENTS])
def test_bad_input_names_the_variable_and_what_is_allowed(environ, name, fragment):
    error = problems_of(environ)
    assert [problem.name for problem in error.problems] == [name]
    assert fragment in str(error)
    assert "nothing was started or written" in str(error)


def test_every_problem_is_listed_at_once():
    error = problems_of({"SPAWNER_MODE": "k8s", "CPU_LIMIT": "x", "HUB_PORT": "0", "AUTH_MODE": "github"})
    names = {problem.name for problem in error.problems}
    assert names == {"SPAWNER_MODE", "CPU_LIMIT", "HUB_PORT", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
                     "OAUTH_CALLBACK_URL", "ALLOWED_USERS"}  # fmt: skip


def test_secret_values_never_appear_in_errors():
    secret = "hunter2-hunter2"
    error = problems_of({"ADMIN_PASSWORD": secret, "JPY_COOKIE_SECRET": secret, "CONFIGPROXY_AUTH_TOKEN": secret})
    assert secret not in str(error)
    assert "<redacted, 15 characters>" in str(error)


def test_every_declaration_is_complete():
    for setting in SETTINGS:
        assert setting.name.isupper() and setting.help.endswith("."), setting.name
        assert setting.kind.allowed, setting.name


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg", "POSTGRESQL"])
def test_a_postgresql_url_uses_psycopg_3(scheme):
    url = load({"DATABASE_URL": f"{scheme}://hub:pw@db:5432/jupyterhub?sslmode=require"})["DATABASE_URL"]
    assert url == "postgresql+psycopg://hub:pw@db:5432/jupyterhub?sslmode=require"


def test_a_password_file_goes_with_a_postgresql_url_without_a_password(tmp_path):
    password = tmp_path / "password"
    password.write_text("p@ss/word%\n")
    url = "postgresql://jupyterhub@postgres:5432/jupyterhub"
    settings = load({"DATABASE_URL": url, "DATABASE_PASSWORD_FILE": str(password)})
    assert connect_url(settings) == "postgresql+psycopg://jupyterhub:p%40ss%2Fword%25@postgres:5432/jupyterhub"
    assert libpq_target(connect_url(settings)) == ("postgresql://jupyterhub@postgres:5432/jupyterhub", "p@ss/word%")
    for env, named in (
        ({"DATABASE_URL": "postgresql://jupyterhub:s3cr3t@postgres/jupyterhub"}, "DATABASE_URL"),
        ({}, "DATABASE_PASSWORD_FILE"),
    ):
        with pytest.raises(SettingsError) as refused:
            load({"DATABASE_PASSWORD_FILE": str(password), **env})
        assert [problem.name for problem in refused.value.problems] == [named]
        assert "s3cr3t" not in str(refused.value)
