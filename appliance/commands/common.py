"""What every subcommand shares: how it talks to the admin, and how it loads the settings."""

import os
import sys

from appliance.declarations import Settings
from appliance.settings import SettingsError, load

EXIT_BAD_CONFIG = 2


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loaded_or_exit() -> Settings:
    try:
        return load(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
