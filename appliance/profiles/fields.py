"""The fields of a profile, declared once: what each means (docs/profiles.md), its JSON Schema (the structure
the file is checked against, and what editors validate it with) and the parser of its value (into the kinds)."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from appliance.kinds import (
    DOCKER_NAME,
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_DESCRIBED,
    ByteSize,
    Invalid,
    PositiveNumber,
    Text,
    byte_count,
)
from appliance.layout import HOME_DIR, NOTEBOOK_DIR

SCHEMA_FILE = "docs/profiles.schema.json"
SLUG = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
PLACEMENT = r"[\w.\-]+\s*(==|!=)\s*\S+"
ENVIRONMENT_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# JupyterHub's own variables tell the server who it is and how to reach the hub; a profile must not change them.
RESERVED_ENVIRONMENT = r"(JUPYTERHUB_|JPY_).*"
DOCKER_MIN_MEMORY = 6 * 1024**2


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
    return Text(SLUG, describe="a slug: lowercase letters, digits and inner dashes, such as gpu-large")(text(value))


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def image(value: object) -> str:
    return Text(IMAGE_REFERENCE, describe=IMAGE_REFERENCE_DESCRIBED)(text(value))


def byte_size(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"must be {ByteSize().allowed}")
    return ByteSize()(str(value))


def disk_size(value: object) -> str:
    parsed = byte_size(value)
    if byte_count(parsed) < 2**20:
        raise Invalid("must be at least 1M")
    return parsed


def size(value: object) -> str:
    parsed = byte_size(value)
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
    if path in (HOME_DIR, NOTEBOOK_DIR):
        raise Invalid(f"is {path}, where each user's own volume is mounted")
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
    Field(
        "disk_quota",
        "Where homes have quotas: what the home may hold, such as 20G; USER_DISK_QUOTA when unset. A server's home "
        "takes the quota of the profile it last started with.",
        SIZE_SCHEMA,
        disk_size,
    ),
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
