"""The profiles file (PROFILES_FILE): the servers users may choose at spawn, and who may choose which.

One declaration, FIELDS, drives the parsing (every problem at once, each with its line), the JSON Schema
that editors validate the file with, and the field list of docs/profiles.md. `chosen()` is the rule the spawner
enforces: a profile outside the user's groups, or one that does not exist, is refused.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from appliance.kinds import (
    DOCKER_NAME,
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_DESCRIBED,
    ByteSize,
    Invalid,
    PositiveNumber,
    byte_count,
)
from appliance.layout import NOTEBOOK_DIR

DEFAULT_PROFILES_FILE = "/etc/appliance/profiles/profiles.yml"
SCHEMA_FILE = "docs/profiles.schema.json"
SLUG = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
PLACEMENT = r"[\w.\-]+\s*(==|!=)\s*\S+"
ENVIRONMENT_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# JupyterHub's own variables tell the server who it is and how to reach the hub; a profile must not change them.
RESERVED_ENVIRONMENT = r"(JUPYTERHUB_|JPY_).*"
DOCKER_MIN_MEMORY = 6 * 1024**2
# Fields that only Swarm mode reads.
SWARM_ONLY_FIELDS = ("mem_reservation", "cpu_reservation", "placement")


@dataclass(frozen=True)
class SharedVolume:
    """A Docker volume shared by every server of a profile: course material (read-only) or a scratch."""

    name: str
    mount_path: str
    read_only: bool = True


@dataclass(frozen=True)
class Profile:
    """A choice at spawn. Unset values (None) are the global settings: SINGLEUSER_IMAGE, MEM_LIMIT, …"""

    name: str
    display_name: str = ""
    description: str = ""
    default: bool = False
    image: str | None = None
    mem_limit: str | None = None
    cpu_limit: float | None = None
    mem_reservation: str | None = None
    cpu_reservation: float | None = None
    gpus: str | int | tuple[str, ...] | None = None
    volumes: tuple[SharedVolume, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    groups: tuple[str, ...] = ()
    placement: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def open_to(self, groups: Iterable[str]) -> bool:
        """Whether a member of these JupyterHub groups may use it; a profile without groups is everyone's."""
        return not self.groups or bool(set(self.groups) & set(groups))

    def summary(self) -> str:
        """One line for `appliance check` and the logs."""
        parts = [f"image {self.image or '(SINGLEUSER_IMAGE)'}"]
        parts += [f"memory {self.mem_limit}"] if self.mem_limit else []
        parts += [f"{self.cpu_limit:g} CPU"] if self.cpu_limit else []
        parts += [f"GPUs {gpus_shown(self.gpus)}"] if self.gpus is not None else []
        parts += [f"{v.name} at {v.mount_path} ({'read-only' if v.read_only else 'writable'})" for v in self.volumes]
        parts += [f"for {', '.join(self.groups)}" if self.groups else "for everyone"]
        return f"{self.name}{' (default)' if self.default else ''}: " + "; ".join(parts)


def gpus_shown(gpus: str | int | tuple[str, ...] | None) -> str:
    if isinstance(gpus, tuple):
        return "devices " + ", ".join(gpus)
    return str(gpus)


@dataclass(frozen=True)
class ProfilesFile:
    """The parsed file: what PROFILES_FILE holds once loaded."""

    path: str
    profiles: tuple[Profile, ...]

    def __str__(self) -> str:
        return f"{self.path} ({len(self.profiles)} profiles: {', '.join(p.name for p in self.profiles)})"


@dataclass(frozen=True)
class ProfilesFileKind:
    """PROFILES_FILE's kind: the path of a profiles file, parsed; the default path may be missing (no profiles)."""

    optional_path: str = DEFAULT_PROFILES_FILE

    @property
    def allowed(self) -> str:
        return f"the path of a YAML profiles file inside the hub container (schema: {SCHEMA_FILE})"

    def __call__(self, raw: str) -> ProfilesFile | None:
        if not raw.startswith("/"):
            raise Invalid(f"must be {self.allowed}, as an absolute path")
        if raw == self.optional_path and not Path(raw).exists():
            return None
        return ProfilesFile(raw, parse_file(raw))


# -- the declaration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field of a profile (or of a profile's volume): what it means, its JSON Schema, and its parser.

    `parse` takes the value as YAML read it and returns the profile's value, or raises Invalid.
    `items` makes the field a list of mappings with those fields (parsed with their own lines).
    """

    name: str
    help: str
    schema: dict
    parse: Callable[[object], object] = lambda value: value
    required: bool = False
    items: tuple["Field", ...] = ()


def text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("must be text (quote it)")
    return value


def slug(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(SLUG, value):
        raise Invalid("must be a slug: lowercase letters, digits and inner dashes, such as gpu-large")
    return value


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def image(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(IMAGE_REFERENCE, value):
        raise Invalid(f"must be {IMAGE_REFERENCE_DESCRIBED}")
    return value


def size(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"must be {ByteSize().allowed}")
    parsed = ByteSize()(str(value))
    if byte_count(parsed) < DOCKER_MIN_MEMORY:
        raise Invalid("must be at least 6M, Docker's smallest memory limit")
    return parsed


def cpus(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be {PositiveNumber().allowed}")
    return PositiveNumber()(str(value))


def gpus(value: object) -> str | int | tuple[str, ...]:
    allowed = "must be all, a number of GPUs (1 or more), or a list of device ids such as [0, 1] or [GPU-3a…]"
    if value == "all":
        return "all"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise Invalid(allowed)
        return value
    if isinstance(value, list) and value and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        ids = tuple(str(v) for v in value)
        if len(set(ids)) != len(ids) or not all(re.fullmatch(r"[\w.:-]+", i) for i in ids):
            raise Invalid(allowed + ", each once")
        return ids
    raise Invalid(allowed)


def environment(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("must be a mapping of variable names to values")
    variables = {}
    for name, setting in value.items():
        if not isinstance(name, str) or not re.fullmatch(ENVIRONMENT_NAME, name):
            raise Invalid(f"has {name!r}, which is not a variable name (letters, digits, _)")
        if re.fullmatch(RESERVED_ENVIRONMENT, name):
            raise Invalid(f"has {name}: JUPYTERHUB_ and JPY_ variables are set by the hub and cannot be changed")
        if isinstance(setting, bool) or not isinstance(setting, str | int | float):
            raise Invalid(f"has {name} = {setting!r}; values must be text or numbers (quote true, false, yes, no)")
        variables[name] = str(setting)
    return variables


def names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid("must be a list of names")
    return tuple(value)


def placement(value: object) -> tuple[str, ...]:
    constraints = names(value)
    misfits = [c for c in constraints if not re.fullmatch(PLACEMENT, c)]
    if misfits:
        raise Invalid(f"must be Swarm constraints like node.labels.gpu==true; these are not: {', '.join(misfits)}")
    return constraints


def volume_name(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(DOCKER_NAME + "[a-zA-Z0-9_.-]", value):
        raise Invalid("must be a Docker volume name: letters, digits, _ . - (at least 2)")
    return value


def mount_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "":
        raise Invalid("must be an absolute path inside the server, such as /home/jovyan/course")
    path = value.rstrip("/")
    if path == NOTEBOOK_DIR:
        raise Invalid(f"is {NOTEBOOK_DIR}, where each user's own volume is mounted")
    return path


STRING = {"type": "string"}
SIZE_SCHEMA = {"type": ["string", "integer"], "pattern": r"^[0-9]+(\.[0-9]+)?[KMGT]?$"}
CPU_SCHEMA = {"type": "number", "exclusiveMinimum": 0}
NAME_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

VOLUME_FIELDS = (
    Field(
        "name",
        "The Docker volume. A missing one is created, labelled, and never removed by the appliance.",
        {"type": "string", "pattern": f"^{DOCKER_NAME}[a-zA-Z0-9_.-]$"},
        volume_name,
        required=True,
    ),
    Field(
        "mount_path",
        "Where the volume appears in the server: an absolute path, not the user's own work folder.",
        {"type": "string", "pattern": "^/."},
        mount_path,
        required=True,
    ),
    Field(
        "read_only",
        "`true` (the default): users read it, as course material. `false`: a scratch that every user of the profile "
        "writes; the appliance creates it writable by all of them.",
        {"type": "boolean", "default": True},
        flag,
    ),
)

FIELDS = (
    Field(
        "name",
        'The profile\'s id, which the REST API takes (`{"profile": NAME}`): a slug.',
        {**STRING, "pattern": f"^{SLUG}$"},
        slug,
        required=True,
    ),
    Field("display_name", "Its title on the spawn page; the name when unset.", STRING, text),
    Field("description", "A sentence under the title on the spawn page.", STRING, text),
    Field(
        "default",
        "Whether users who name no profile get this one (at most one profile); otherwise the first open to them.",
        {"type": "boolean"},
        flag,
    ),
    Field(
        "image", "The user image; SINGLEUSER_IMAGE when unset.", {**STRING, "pattern": f"^{IMAGE_REFERENCE}$"}, image
    ),
    Field("mem_limit", "Memory limit, such as 4G; MEM_LIMIT when unset.", SIZE_SCHEMA, size),
    Field("cpu_limit", "CPU limit in cores, such as 2 or 0.5; CPU_LIMIT when unset.", CPU_SCHEMA, cpus),
    Field("mem_reservation", "Swarm mode: memory reserved on the node; MEM_RESERVATION when unset.", SIZE_SCHEMA, size),
    Field("cpu_reservation", "Swarm mode: cores reserved on the node; CPU_RESERVATION when unset.", CPU_SCHEMA, cpus),
    Field(
        "gpus",
        "GPUs: `all`, a count, or a list of device ids (Docker's `--gpus`). Swarm mode takes a count or ids, as "
        "`NVIDIA-GPU` generic resources.",
        {
            "oneOf": [
                {"const": "all"},
                {"type": "integer", "minimum": 1},
                {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": ["string", "integer"]}},
            ]
        },
        gpus,
    ),
    Field(
        "volumes",
        "Shared volumes mounted into every server of the profile.",
        {"type": "array"},
        items=VOLUME_FIELDS,
    ),
    Field(
        "environment",
        "Extra environment variables of the server (not JUPYTERHUB_* or JPY_*).",
        {
            "type": "object",
            "propertyNames": {"pattern": f"^(?!{RESERVED_ENVIRONMENT}){ENVIRONMENT_NAME}$"},
            "additionalProperties": {"type": ["string", "number"]},
        },
        environment,
    ),
    Field(
        "groups",
        "JupyterHub groups whose members may use it (GitHub teams, OIDC or LDAP groups, or groups made in /hub/admin); "
        "unset or empty: everyone.",
        NAME_LIST,
        names,
    ),
    Field(
        "placement",
        "Swarm mode: placement constraints, added to SWARM_PLACEMENT.",
        {"type": "array", "items": {"type": "string", "pattern": f"^{PLACEMENT}$"}},
        placement,
    ),
)


def json_schema() -> dict:
    """The JSON Schema of the profiles file, from FIELDS (written to docs/profiles.schema.json)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "JupyterHub Appliance profiles file",
        "type": "object",
        "additionalProperties": False,
        "required": ["profiles"],
        "properties": {
            "profiles": {"type": "array", "minItems": 1, "items": object_schema(FIELDS)},
        },
    }


def object_schema(fields: tuple[Field, ...]) -> dict:
    properties = {}
    for one in fields:
        schema = {"description": one.help, **one.schema}
        if one.items:
            schema["items"] = object_schema(one.items)
        properties[one.name] = schema
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [one.name for one in fields if one.required],
        "properties": properties,
    }


def rendered_schema() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


# -- parsing, with lines -------------------------------------------------------------------------------------


class Problems:
    """Problems of one file, each with its line: path:line: where: what is wrong and what is allowed."""

    def __init__(self, path: str):
        self.path = path
        self.found: list[str] = []

    def add(self, node: yaml.Node | None, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.found.append(f"{self.path}{line}: {message}")


def parse_file(path: str) -> tuple[Profile, ...]:
    """The profiles of a file; Invalid lists every problem, each with its line."""
    try:
        content = Path(path).read_text()
    except OSError as error:
        raise Invalid(f"cannot be read: {error.strerror}; mount it into the hub container") from None
    except UnicodeDecodeError:
        raise Invalid("is not UTF-8 text") from None
    return parse_text(content, path)


def parse_text(content: str, path: str) -> tuple[Profile, ...]:
    problems = Problems(path)
    try:
        root = yaml.compose(content, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise Invalid(f"is not valid YAML: {path}{line}: {getattr(error, 'problem', error)}") from None
    profiles = profiles_in(root, problems)
    if problems.found:
        lines = "\n".join(f"      {found}" for found in problems.found)
        raise Invalid(f"has {len(problems.found)} problem(s):\n{lines}")
    return profiles


def profiles_in(root: yaml.Node | None, problems: Problems) -> tuple[Profile, ...]:
    if not isinstance(root, yaml.MappingNode) or [key.value for key, _ in root.value] != ["profiles"]:
        problems.add(root, "the file must be a mapping with one key, profiles: a list of profiles")
        return ()
    listing = root.value[0][1]
    if not isinstance(listing, yaml.SequenceNode) or not listing.value:
        problems.add(listing, "profiles must be a list of at least one profile")
        return ()
    parsed = []
    for index, node in enumerate(listing.value, start=1):
        parsed.append((fields_of(node, FIELDS, problems, profile_label(node, index)), node))
    across_profiles(parsed, listing, problems)
    return tuple(profile_of(values, problems) for values, _ in parsed if "name" in values)


def profile_label(node: yaml.Node, index: int) -> str:
    """How messages name a profile: by its name as written, else by its place in the list."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "name" and isinstance(value, yaml.ScalarNode):
                return f"profile {value.value!r}"
    return f"profile {index}"


def fields_of(node: yaml.Node, fields: tuple[Field, ...], problems: Problems, where: str) -> dict:
    """The parsed values of a mapping's fields; problems (with lines) for unknown, bad and missing ones."""
    allowed = ", ".join(one.name for one in fields)
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, f"{where} must be a mapping of fields ({allowed})")
        return {}
    by_name = {one.name: one for one in fields}
    values: dict[str, object] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        declared = by_name.get(key)
        if declared is None:
            problems.add(key_node, f"{where}: {key} is not a field; allowed: {allowed}")
        elif key in values:
            problems.add(key_node, f"{where}: {key} is given twice")
        elif declared.items:
            values[key] = items_of(value_node, declared, problems, where)
        else:
            try:
                values[key] = declared.parse(yaml.SafeLoader("").construct_object(value_node, deep=True))
            except Invalid as error:
                problems.add(value_node, f"{where}: {key} {error}")
            except yaml.YAMLError as error:
                problems.add(value_node, f"{where}: {key} cannot be read: {error}")
    given = {key.value for key, _ in node.value}
    for missing in (one.name for one in fields if one.required and one.name not in given):
        problems.add(node, f"{where}: {missing} is required")
    return values


def items_of(node: yaml.Node, declared: Field, problems: Problems, where: str) -> tuple[dict, ...]:
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, f"{where}: {declared.name} must be a list")
        return ()
    return tuple(
        (fields_of(item, declared.items, problems, f"{where}, {declared.name}[{index}]"), item)
        for index, item in enumerate(node.value, start=1)
    )


def profile_of(values: dict, problems: Problems) -> Profile:
    volumes = []
    paths: set[str] = set()
    for volume, volume_node in values.pop("volumes", ()):
        if {"name", "mount_path"} <= volume.keys():
            if volume["mount_path"] in paths:
                problems.add(volume_node, f"profile {values['name']!r}: two volumes at {volume['mount_path']}")
            paths.add(volume["mount_path"])
            volumes.append(SharedVolume(**volume))
    return Profile(**values, volumes=tuple(volumes))


def across_profiles(parsed: list[tuple[dict, yaml.Node]], listing: yaml.SequenceNode, problems: Problems) -> None:
    """Rules between profiles: names unique, at most one default."""
    seen: set[str] = set()
    for values, node in parsed:
        name = values.get("name")
        if name is not None and name in seen:
            problems.add(node, f"profile {name!r} is declared twice; names must be unique")
        seen.add(name)
    defaults = [node for values, node in parsed if values.get("default")]
    if len(defaults) > 1:
        lines = ", ".join(str(node.start_mark.line + 1) for node in defaults)
        problems.add(defaults[1], f"{len(defaults)} profiles are marked default (lines {lines}); at most one may be")


# -- profiles in use ----------------------------------------------------------------------------------------


def from_images(default_image: str, images: Iterable[str]) -> tuple[Profile, ...]:
    """ALLOWED_IMAGES as profiles: one per image, the default image first and default."""
    ordered = list(dict.fromkeys([default_image, *images]))
    profiles, used = [], set()
    for position, reference in enumerate(ordered):
        name = image_slug(reference, used)
        used.add(name)
        profiles.append(Profile(name, display_name=reference, image=reference, default=position == 0))
    return tuple(profiles)


def image_slug(reference: str, used: set[str]) -> str:
    last_component = reference.split("@")[0].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9]+", "-", last_component.lower()).strip("-")[:55].strip("-") or "image"
    name, number = base, 2
    while name in used:
        name, number = f"{base}-{number}", number + 1
    return name


ONLY_PROFILE = Profile("default", display_name="Default", default=True)


class ProfileRefused(Exception):
    """A choice the user may not make; `status` is the HTTP status to answer with (400 or 403)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


OPTION_KEYS = ("profile", "image")


def chosen(profiles: tuple[Profile, ...], options: Mapping, groups: Iterable[str], user: str) -> Profile:
    """The profile that options (a server's user_options) choose for a member of these groups, or ProfileRefused.

    `{"profile": NAME}` chooses by name; `{"image": REF}` (ALLOWED_IMAGES' form) the first open profile with that
    image; nothing, the default profile, else the first open one.
    """
    groups = set(groups)
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ProfileRefused(400, f"Unknown server option(s): {', '.join(unknown)}. This hub takes profile.")
    open_ones = [p for p in profiles if p.open_to(groups)]
    if not open_ones:
        raise ProfileRefused(403, f"No profile of this hub is open to {user}. Ask an admin to add {user} to a group.")
    offered = ", ".join(p.name for p in open_ones)
    name, reference = options.get("profile"), options.get("image")
    if name is not None:
        profile = by_name(profiles, name, offered)
        if not profile.open_to(groups):
            raise ProfileRefused(
                403,
                f"The profile {name} is for members of {', '.join(profile.groups)}, and {user} is in none of these "
                f"groups. Profiles open to {user}: {offered}.",
            )
    elif reference is not None:
        profile = next((p for p in open_ones if p.image == reference), None)
        if profile is None:
            raise ProfileRefused(
                403, f"The image {reference!r} is not in a profile open to {user}. Profiles open to {user}: {offered}."
            )
    else:
        profile = next((p for p in open_ones if p.default), open_ones[0])
    if reference is not None and profile.image != reference:
        raise ProfileRefused(400, f"The image {reference!r} is not the image of the profile {profile.name}.")
    return profile


def by_name(profiles: tuple[Profile, ...], name: object, offered: str) -> Profile:
    profile = next((p for p in profiles if p.name == name), None) if isinstance(name, str) else None
    if profile is None:
        shown = str(name)[:80]
        raise ProfileRefused(400, f"There is no profile {shown!r} on this hub. Profiles open to you: {offered}.")
    return profile


def in_use(settings: Mapping[str, object]) -> tuple[Profile, ...]:
    """The profiles of this hub: the file's, else one per ALLOWED_IMAGES entry, else one with the global settings;
    each with an image (SINGLEUSER_IMAGE where it names none)."""
    source, images, default_image = settings["PROFILES_FILE"], settings["ALLOWED_IMAGES"], settings["SINGLEUSER_IMAGE"]
    if source:
        profiles = source.profiles
    elif images:
        profiles = from_images(default_image, images)
    else:
        profiles = (ONLY_PROFILE,)
    return tuple(p if p.image else replace(p, image=default_image) for p in profiles)
