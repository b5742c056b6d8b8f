"""A variable that looks meant as a setting but is none is named, with the setting it likely meant."""

import re
import subprocess
import sys
from pathlib import Path

from appliance.misspelt import COMPOSE_VARIABLES, misspelt_settings
from appliance.settings import BY_NAME

ROOT = Path(__file__).resolve().parents[2]

# What the hub container's environment holds besides settings: from its image, supervisord, a shell.
ORDINARY_ENVIRONMENT = [
    "PATH",
    "HOME",
    "HOSTNAME",
    "LANG",
    "TERM",
    "PWD",
    "SHLVL",
    "_",
    "TZ",
    "USER",
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_CERT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "SUPERVISOR_ENABLED",
    "SUPERVISOR_SERVER_URL",
    "SUPERVISOR_PROCESS_NAME",
    "SUPERVISOR_GROUP_NAME",
    "DOCKER_HOST",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "JUPYTERHUB_API_TOKEN",
]


def test_a_slip_of_the_keyboard_names_the_setting_meant():
    assert misspelt_settings(["IDLE_TIMOUT", "MEM_LIMT", "IDLE_TIMEOUT"]) == [
        "IDLE_TIMOUT is not a setting, and is ignored: did you mean IDLE_TIMEOUT?",
        "MEM_LIMT is not a setting, and is ignored: did you mean MEM_LIMIT?",
    ]


def test_a_name_in_a_family_of_settings_is_named_even_when_nothing_is_close():
    (warning,) = misspelt_settings(["OIDC_TENANT"])
    assert warning.startswith("OIDC_TENANT is not a setting, and is ignored")


def test_ordinary_variables_settings_and_compose_variables_pass_quietly():
    assert misspelt_settings([*ORDINARY_ENVIRONMENT, *BY_NAME, *COMPOSE_VARIABLES]) == []


def test_the_compose_variables_are_those_the_compose_files_read():
    files = [ROOT / "docker-compose.yml", *sorted((ROOT / "compose").glob("*.yml"))]
    read = {name for path in files for name in re.findall(r"\$\{([A-Z_]+)", path.read_text())}
    assert read - set(BY_NAME) <= COMPOSE_VARIABLES
    assert COMPOSE_VARIABLES - read == {"COMPOSE_FILE"}, "compose itself reads COMPOSE_FILE from .env"


def test_check_warns_before_it_lists_the_settings():
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "check"],
        env={"IDLE_TIMOUT": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning: IDLE_TIMOUT is not a setting, and is ignored: did you mean IDLE_TIMEOUT?" in result.stderr
