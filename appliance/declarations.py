"""What settings and modes are made of: a setting's declaration, a problem with one, a doctor's outcome, and a
mode (of login or of the spawner) that owns its settings, its problems and its steps.

The bottom of the package (it imports only the value kinds and the generated types), so that a mode's module
can declare its settings with it and `appliance.settings` can gather them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, TypeVar, cast

from appliance.kinds import Kind
from appliance.setting_types import SettingValues

# Each setting's value, as `appliance.settings.load()` gives it (the type is generated from the declarations).
Settings = SettingValues
RawEnv = Mapping[str, str]
# A default derived from other settings: computed from their parsed values, after every plain value.
Derived = Callable[[Settings], str]
Report = Callable[[str], None]
T = TypeVar("T")


def present(value: T | None) -> T:
    """A value that `load()`'s checks guarantee where it is read (a setting its mode requires, say)."""
    if value is None:
        raise ValueError("a setting required here is unset, which load() refuses")
    return value


def value_of(settings: Settings, name: str) -> object:
    """A setting's value by a name known only at run time (the typed view needs a literal key)."""
    return cast(Mapping[str, object], settings)[name]


@dataclass(frozen=True)
class AppliesIn:
    """The modes, chosen by one selector setting (AUTH_MODE or SPAWNER_MODE), in which a setting means anything;
    set elsewhere, it is a problem rather than silently ignored."""

    selector: str
    modes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.selector}={' or '.join(self.modes)}"


def in_login_modes(*modes: str) -> AppliesIn:
    return AppliesIn("AUTH_MODE", modes)


@dataclass(frozen=True)
class Setting:
    name: str
    help: str
    kind: Kind
    default: str | Derived = ""
    default_doc: str = ""
    secret: bool = False
    group: str = "Hub"
    applies_in: AppliesIn | None = None
    # A derived default that always gives a value, so that the setting is never unset.
    always_derived: bool = False

    @property
    def derived(self) -> bool:
        return callable(self.default)

    @property
    def literal_default(self) -> str:
        """The default as a value one could write into .env; empty when it is derived or generated."""
        return self.default if isinstance(self.default, str) else ""

    @property
    def documented_default(self) -> str:
        return self.default_doc or self.literal_default


@dataclass(frozen=True)
class Problem:
    name: str
    shown_value: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.name}={self.shown_value}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Outcome:
    """What one doctor check found."""

    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # ok, but a choice the admin should know the cost of

    @property
    def label(self) -> str:
        return "WARN" if self.warning else "PASS" if self.ok else "FAIL"


def passed(detail: str) -> Outcome:
    return Outcome(True, detail)


def failed(detail: str, fix: str) -> Outcome:
    return Outcome(False, detail, fix)


def warned(detail: str, fix: str) -> Outcome:
    return Outcome(True, detail, fix, warning=True)


class StartRefused(Exception):
    """A mode's start step found that the hub cannot work: `appliance run` prints why and does not start it."""


def no_problems(_values: Settings) -> list[Problem]:
    return []


def nothing_to_start(_settings: Settings, _report: Report) -> None:
    return None


@dataclass(frozen=True)
class Mode:
    """One value of a mode setting and all it brings: adding a mode is one module declaring one of these, and one
    line in its registry.

    - settings: its own, documented under `title`; each is a problem when set in another mode;
    - problems: among the parsed values, when this mode is chosen;
    - configure: JupyterHub's config (a traitlets Config), from the checked settings;
    - start: at `appliance run`, before the hub starts (wait for a provider, say); raises StartRefused;
    - diagnose: the doctor's check of this mode (None where the shared checks cover it).
    """

    selector: ClassVar[str]  # the setting that chooses it
    name: str
    title: str
    configure: Callable
    diagnose: Callable[[Settings], Outcome] | None
    settings: tuple[Setting, ...] = ()
    problems: Callable[[Settings], list[Problem]] = no_problems
    start: Callable[[Settings, Report], None] = nothing_to_start
    # Environment variables that start with it are meant for this mode (a misspelt one is warned about).
    family: str = ""

    @property
    def own_settings(self) -> tuple[Setting, ...]:
        """Its settings, documented under its title and applying in this mode only."""
        applies_in = AppliesIn(self.selector, (self.name,))
        return tuple(replace(setting, group=self.title, applies_in=applies_in) for setting in self.settings)


@dataclass(frozen=True)
class LoginMode(Mode):
    """A value of AUTH_MODE (appliance.login)."""

    selector: ClassVar[str] = "AUTH_MODE"
    admin_password: bool = False  # admins log in with ADMIN_PASSWORD
    takes_passwords: bool = False  # its login page takes a password
    # What the admin copies into the provider (lines), logged at start and printed by `appliance check`.
    registration: Callable[[Settings], list[str]] | None = None
    # What every user server finds in its environment in this mode (read by the appliance's user image).
    server_environment: Callable[[Settings], dict[str, str]] | None = None


@dataclass(frozen=True)
class SpawnerMode(Mode):
    """A value of SPAWNER_MODE (appliance.servers)."""

    selector: ClassVar[str] = "SPAWNER_MODE"
    # The user image it runs by default: the singleuser image, or one built on it.
    image_kind: str = "singleuser"
    # Servers may run on other nodes than the hub's (images pulled on each, tasks lost with a node).
    many_nodes: bool = False
