"""What every subcommand shares: how it talks to the admin, and how it loads the settings."""

import os
import sys
from collections.abc import Mapping

from appliance.declarations import Settings
from appliance.settings import SettingsError, load

EXIT_BAD_CONFIG = 2


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loaded_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    try:
        return load(os.environ if environ is None else environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
