"""The appliance's settings: `load(environ)` parses and checks every one (appliance.settings.declared) and the
rules between them (appliance.settings.rules), and reports every problem at once."""

from collections.abc import Collection
from types import MappingProxyType
from typing import cast

from appliance.declarations import Problem, RawEnv, Setting, Settings
from appliance.kinds import Invalid
from appliance.redaction import REDACTED, without_credentials
from appliance.settings.declared import (
    ADMIN_PASSWORD_MODES,
    BY_NAME,
    PASSWORD_MODES,
    SETTINGS,
    database_url_of,
)
from appliance.settings.rules import chosen_in, cross_checks, egress_allow_warning, plain_http_warning

__all__ = [
    "ADMIN_PASSWORD_MODES",
    "BY_NAME",
    "PASSWORD_MODES",
    "REDACTED",
    "SETTINGS",
    "Settings",
    "SettingsError",
    "database_url_of",
    "egress_allow_warning",
    "load",
    "plain_http_warning",
    "without_credentials",
]


class SettingsError(Exception):
    """Every problem with the environment at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"The appliance's configuration has {len(problems)} problem(s); nothing was started or written:"]
        lines += [f"  - {problem}" for problem in problems]
        lines.append("Fix them in .env (see .env.example) or the environment, then start again.")
        super().__init__("\n".join(lines))


def shown(setting: Setting, raw: str) -> str:
    """A raw value as it may appear in messages: secrets are never shown, nor credentials inside a value."""
    if setting.secret:
        return f"<redacted, {len(raw)} characters>"
    return repr(without_credentials(raw))


def load(environ: RawEnv, only: Collection[str] | None = None) -> Settings:
    """Parse and check every setting; raise SettingsError listing every problem (with `only`, the problems of
    those settings alone: a process that uses a few, such as the Docker broker, leaves the rest to the hub).

    Values set in the environment and literal defaults are parsed first; derived defaults are then
    computed from those parsed values, in declaration order, as traitlets' @default does.
    """
    values: dict[str, object] = dict.fromkeys(BY_NAME)
    problems: list[Problem] = []
    for setting in SETTINGS:
        raw = environ.get(setting.name, "") or setting.literal_default
        try:
            values[setting.name] = setting.kind(raw) if raw else None
        except Invalid as error:
            problems.append(Problem(setting.name, shown(setting, raw), str(error), setting.help))
    # Typed as what they become; filled in declaration order, as traitlets' @default is.
    typed = cast(Settings, values)
    for setting in SETTINGS:
        if setting.derived and values[setting.name] is None and not environ.get(setting.name):
            values[setting.name] = derived_value(setting, typed)
    failed = {problem.name for problem in problems}
    problems += [problem for problem in cross_checks(typed, chosen_in(environ, typed)) if problem.name not in failed]
    if only is not None:
        problems = [problem for problem in problems if problem.name in only]
    if problems:
        raise SettingsError(problems)
    return cast(Settings, MappingProxyType(values))


def derived_value(setting: Setting, values: Settings) -> object:
    """The derived default, parsed; None when it derives nothing, or nothing valid from another bad setting
    (whose own problem is reported)."""
    raw = setting.default(values) if callable(setting.default) else setting.default
    try:
        return setting.kind(raw) if raw else None
    except Invalid:
        return None
