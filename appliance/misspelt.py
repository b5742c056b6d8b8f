"""Environment variables that look meant for the appliance but name no setting: a warning with the likely name.

A warning, not an error: the hub's environment also holds variables that are none of the appliance's
business (from an admin's own compose override, or a platform), and refusing to start over those would
turn a harmless extra into an outage. A name close to a setting's, or in one of the settings' own
families, is almost surely a slip, so it is named at every start and by `appliance check`.
"""

import difflib
from collections.abc import Iterable

from appliance.login import LOGIN_MODES
from appliance.servers import SPAWNER_MODES
from appliance.settings import BY_NAME

# Variables that the compose files read for themselves (`${NAME}`), which reach the hub through env_file; those
# that are settings too (HTTPS_PORT, HOST_PASSWD_FILE, …) are known as settings.
COMPOSE_VARIABLES = frozenset(
    {
        "APPLIANCE_ENV_FILE",
        "APPLIANCE_VERSION",
        "CERTS_DIR",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "PROFILES_DIR",
        "TLS_DIR",
    }
)
# Set inside the hub container by the appliance itself.
INTERNAL_VARIABLES = frozenset({"APPLIANCE_TLS_FRONT"})
# Families of the appliance's settings: another name in one of them is no setting at all. The modes name their own.
OWNED_PREFIXES = (
    "APPLIANCE_",
    "DATABASE_",
    "PROFILES_",
    "IDLE_",
    *(mode.family for mode in (*LOGIN_MODES.values(), *SPAWNER_MODES.values()) if mode.family),
)
SIMILARITY = 0.85  # difflib's ratio: IDLE_TIMOUT and IDLE_TIMEOUT score 0.96, PATH and HUB_PORT 0.33


def misspelt_settings(names: Iterable[str]) -> list[str]:
    """One warning for each name that is no setting but looks meant as one."""
    known = sorted(BY_NAME)
    warnings = []
    for name in sorted(set(names) - set(BY_NAME) - COMPOSE_VARIABLES - INTERNAL_VARIABLES):
        close = difflib.get_close_matches(name, known, n=1, cutoff=SIMILARITY)
        if close:
            warnings.append(f"{name} is not a setting, and is ignored: did you mean {close[0]}?")
        elif name.startswith(OWNED_PREFIXES):
            warnings.append(f"{name} is not a setting, and is ignored (docs/settings.md lists them).")
    return warnings
