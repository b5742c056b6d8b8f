"""The value kinds a setting can have: each parses raw text and says what it allows."""

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit


class Invalid(ValueError):
    """A raw value that does not fit its kind; the message says what is allowed."""


class Kind(Protocol):
    """Parses a raw, non-empty value or raises Invalid; `allowed` describes the values it takes."""

    @property
    def allowed(self) -> str: ...

    def __call__(self, raw: str) -> object: ...


@dataclass(frozen=True)
class Text:
    """Free text, optionally held to a pattern and a minimum length."""

    pattern: str = ""
    min_length: int = 0
    describe: str = "any text"

    @property
    def allowed(self) -> str:
        if self.min_length:
            return f"{self.describe}, at least {self.min_length} characters"
        return self.describe

    def __call__(self, raw: str) -> str:
        if len(raw) < self.min_length:
            raise Invalid(f"must be at least {self.min_length} characters, got {len(raw)}")
        if self.pattern and not re.fullmatch(self.pattern, raw):
            raise Invalid(f"must be {self.describe}")
        return raw


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words; some may be known but not available yet."""

    values: tuple[str, ...]
    unavailable: tuple[str, ...] = ()
    case_insensitive: bool = False

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(v for v in self.values if v not in self.unavailable)

    @property
    def allowed(self) -> str:
        return ", ".join(self.available)

    def __call__(self, raw: str) -> str:
        value = raw.upper() if self.case_insensitive else raw
        if value in self.unavailable:
            raise Invalid(f"is not available in this version of the appliance; supported: {', '.join(self.available)}")
        if value not in self.values:
            raise Invalid(f"must be one of: {', '.join(self.available)}")
        return value


@dataclass(frozen=True)
class NameList:
    """A comma-separated list of names, each optionally held to a pattern; blanks around commas are ignored."""

    describe: str = "comma-separated names"
    pattern: str = ""
    separator: str = ","

    @property
    def allowed(self) -> str:
        return self.describe

    def __call__(self, raw: str) -> tuple[str, ...]:
        items = raw.split() if self.separator == " " else [item.strip() for item in raw.split(self.separator)]
        if any(not item for item in items):
            raise Invalid("has an empty entry; separate names with single commas")
        misfits = [item for item in items if self.pattern and not re.fullmatch(self.pattern, item)]
        if misfits:
            raise Invalid(f"must be {self.describe}; these entries are not: {', '.join(misfits)}")
        return tuple(items)


@dataclass(frozen=True)
class Flag:
    """A yes/no switch."""

    TRUE = ("true", "yes", "1", "on")
    FALSE = ("false", "no", "0", "off")

    @property
    def allowed(self) -> str:
        return "true or false"

    def __call__(self, raw: str) -> bool:
        if raw.lower() in self.TRUE:
            return True
        if raw.lower() in self.FALSE:
            return False
        raise Invalid(f"must be {self.allowed}")


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int

    @property
    def allowed(self) -> str:
        return f"a whole number from {self.minimum} to {self.maximum}"

    def __call__(self, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise Invalid(f"must be {self.allowed}") from None
        if not self.minimum <= value <= self.maximum:
            raise Invalid(f"must be {self.allowed}")
        return value


@dataclass(frozen=True)
class PositiveNumber:
    @property
    def allowed(self) -> str:
        return "a number above 0, such as 0.5 or 2"

    def __call__(self, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise Invalid(f"must be {self.allowed}") from None
        if not value > 0 or value == float("inf"):
            raise Invalid(f"must be {self.allowed}")
        return value


@dataclass(frozen=True)
class ByteSize:
    """A size as Docker and dockerspawner write it: a number with an optional K, M, G or T."""

    @property
    def allowed(self) -> str:
        return "a size such as 512M or 2G (suffix K, M, G or T)"

    def __call__(self, raw: str) -> str:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?[KMGT]?", raw) or float(raw.rstrip("KMGT")) <= 0:
            raise Invalid(f"must be {self.allowed}")
        return raw


def byte_count(size: str) -> int:
    """The bytes a ByteSize value means (K, M, G and T are powers of 1024, as Docker reads them)."""
    power = "KMGT".find(size[-1]) + 1 if size[-1] in "KMGT" else 0
    return int(float(size.rstrip("KMGT")) * 1024**power)


@dataclass(frozen=True)
class AbsolutePath:
    where: str = "inside the hub container"

    @property
    def allowed(self) -> str:
        return f"an absolute path {self.where}"

    def __call__(self, raw: str) -> str:
        if not raw.startswith("/"):
            raise Invalid(f"must be {self.allowed}")
        return raw.rstrip("/") or "/"


def split_url(raw: str, allowed: str):
    """The parts of a URL; Invalid (saying what is allowed) when it, or its port, is malformed."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise Invalid(f"must be {allowed}") from None
    return parts


@dataclass(frozen=True)
class Url:
    schemes: tuple[str, ...]
    describe: str = ""

    @property
    def allowed(self) -> str:
        return self.describe or f"a URL starting with {' or '.join(s + '://' for s in self.schemes)}"

    def __call__(self, raw: str) -> str:
        parts = split_url(raw, self.allowed)
        needs_host = parts.scheme != "sqlite"
        if parts.scheme not in self.schemes or (needs_host and not parts.hostname):
            raise Invalid(f"must be {self.allowed}")
        return raw


# The URL schemes DATABASE_URL takes, and the SQLAlchemy driver each means: psycopg 3 for PostgreSQL.
DATABASE_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg"}


@dataclass(frozen=True)
class DatabaseUrl:
    """sqlite:///FILE, or a PostgreSQL URL (made to use psycopg 3); MySQL and other drivers are refused."""

    @property
    def allowed(self) -> str:
        return "sqlite:////path/to/file.sqlite or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"

    def __call__(self, raw: str) -> str:
        parts = split_url(raw, self.allowed)
        scheme = parts.scheme.lower()
        if scheme.split("+")[0] in ("mysql", "mariadb"):
            raise Invalid(
                "names MySQL or MariaDB, which the appliance does not support (no driver in the hub image, no "
                f"backups or upgrades for it): use PostgreSQL, {self.allowed}"
            )
        if scheme not in DATABASE_DRIVERS:
            raise Invalid(f"must be {self.allowed} (psycopg 3 is the hub image's only PostgreSQL driver)")
        if scheme == "sqlite":
            if not raw[len("sqlite:///") :]:
                raise Invalid(f"names no file: must be {self.allowed}")
            return raw
        present = {"host": parts.hostname, "user": parts.username, "database name": parts.path.strip("/")}
        missing = [part for part, value in present.items() if not value]
        if missing:
            raise Invalid(f"names no {', no '.join(missing)}: must be {self.allowed}")
        return DATABASE_DRIVERS[scheme] + raw[len(scheme) :]


@dataclass(frozen=True)
class Template:
    """A name template with {fields}, that must render to a valid Docker name."""

    fields: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "a Docker name that may use " + ", ".join("{" + f + "}" for f in self.fields)

    def __call__(self, raw: str) -> str:
        try:
            rendered = raw.format(**{name: "x" for name in self.fields})
        except (KeyError, IndexError, ValueError):
            raise Invalid(f"must be {self.allowed}") from None
        if not re.fullmatch(DOCKER_NAME, rendered):
            raise Invalid(f"must be {self.allowed}")
        return raw


DOCKER_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"

# Docker's image reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest], with a
# lowercase path of components joined by `/`, and within a component single `.` or `_`, `__`, or dashes.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = rf"(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?"
IMAGE_REFERENCE_DESCRIBED = "a Docker image reference such as quay.io/jupyter/scipy-notebook:2025-01-06 (lowercase)"


@dataclass(frozen=True)
class ExistingFile:
    """A path inside the hub container that must be a readable file when the hub starts."""

    describe: str = "a file"

    @property
    def allowed(self) -> str:
        return f"the path of {self.describe} inside the hub container"

    def __call__(self, raw: str) -> str:
        if not raw.startswith("/"):
            raise Invalid(f"must be {self.allowed}, as an absolute path")
        try:
            with open(raw, "rb"):
                pass
        except OSError as error:
            raise Invalid(f"cannot be read: {error.strerror}; mount it into the hub container") from None
        return raw
