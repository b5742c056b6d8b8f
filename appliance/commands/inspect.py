"""`appliance check`, `appliance doctor` and `appliance docs`: the settings as the hub reads them, the running
appliance checked end to end, and the docs rendered from the declarations."""

import os
import sys
from pathlib import Path

from appliance import profiles
from appliance.commands.common import loaded_or_exit
from appliance.commands.run import warn_about_misspelt_settings
from appliance.concerns.storage import stored_choices
from appliance.declarations import Settings, value_of
from appliance.docs import VERSIONED_FILES, stale_files, write
from appliance.login import LOGIN_MODES
from appliance.settings import BY_NAME, REDACTED, SETTINGS, without_credentials

CHECK_HELP = "check the settings and print them, secrets redacted"
DOCTOR_HELP = "check the running appliance end to end; exit 1 on any failure"
DOCS_HELP = "render the settings docs and .env.example from the declarations"


def add_docs_arguments(parser) -> None:
    parser.add_argument("--write", action="store_true", help="write the files instead of checking them")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root")


def check(_args) -> int:
    warn_about_misspelt_settings()
    settings = with_stored_choices(loaded_or_exit())
    width = max(len(setting.name) for setting in SETTINGS)
    for setting in SETTINGS:
        print(f"{setting.name:<{width}}  {displayed(setting.name, value_of(settings, setting.name))}")
    print("\nProfiles users choose from:")
    for profile in profiles.in_use(settings):
        print(f"  {profile.summary()}")
    if registration := LOGIN_MODES[settings["AUTH_MODE"]].registration:
        print("", *registration(settings), sep="\n")
    return 0


def with_stored_choices(settings: Settings) -> Settings:
    """The settings as the hub runs with them: CONTAINER_NAMES and USER_VOLUME_HOLDS, unless set, as DATA_DIR keeps
    them (`docker compose exec` sees only the container's environment, not what `appliance run` resolved)."""
    kept = {name: value for name, value in stored_choices(settings["DATA_DIR"]).items() if not value_of(settings, name)}
    return loaded_or_exit({**os.environ, **kept}) if kept else settings


def doctor(_args) -> int:
    # Imported here: the doctor pulls in JupyterHub, SQLAlchemy and alembic, which `run` does not need.
    from appliance.doctor import diagnose, render

    results = diagnose(os.environ)
    print(render(results))
    failures = [result.name for result in results if result.outcome is not None and not result.outcome.ok]
    warnings = [result.name for result in results if result.outcome is not None and result.outcome.warning]
    print(f"\n{len(failures)} check(s) failed: {', '.join(failures)}" if failures else "\nAll checks passed.")
    if warnings:
        print(f"{len(warnings)} warning(s): {', '.join(warnings)}")
    return 1 if failures else 0


def displayed(name: str, value) -> str:
    if value is None:
        return "(unset)"
    if BY_NAME[name].secret:
        return REDACTED
    separator = getattr(BY_NAME[name].kind, "separator", ",")  # as the list was written
    return without_credentials(separator.join(map(str, value)) if isinstance(value, tuple) else str(value))


def docs_command(args) -> int:
    if args.write:
        write(args.root)
        return 0
    stale = stale_files(args.root)
    for name in stale:
        source = "the version in appliance/__init__.py" if name in VERSIONED_FILES else "the settings' declarations"
        print(f"{name} differs from {source}; run `appliance docs --write`", file=sys.stderr)
    return 1 if stale else 0
