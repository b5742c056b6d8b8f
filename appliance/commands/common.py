"""What every subcommand shares: how it talks to the admin, and how it loads the settings."""

import os
import sys
from collections.abc import Mapping, Sequence

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


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first one the heading) as left-aligned columns, two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )
