"""The profiles file (PROFILES_FILE) read: its structure checked by its JSON Schema (jsonschema), each field's value
parsed by the field, the rules between profiles, and every problem at once, each with its line.

A JSON Schema cannot say the rules between profiles (names unique, one default), the appliance's own limits (the
work folder is no volume's mount path), or a key given twice; those are checked here too.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

import yaml

from appliance.kinds import Invalid
from appliance.profiles.fields import FIELDS, SCHEMA_FILE, VOLUME_FIELDS, Field, json_schema
from appliance.profiles.model import Profile, ProfilesFile, SharedVolume

if TYPE_CHECKING:
    import jsonschema

DEFAULT_PROFILES_FILE = "/etc/appliance/profiles/profiles.yml"
FILE_SHAPE = "the file must be a mapping with one key, profiles: a list of profiles"


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


class Problems:
    """Problems of one file, each with its line: path:line: where: what is wrong and what is allowed."""

    def __init__(self, path: str):
        self.path = path
        self.found: dict[str, int] = {}  # each message once, with its line

    def add(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.found.setdefault(f"{self.path}{f':{line}' if line else ''}: {message}", line)

    def listed(self) -> list[str]:
        return sorted(self.found, key=self.found.__getitem__)


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
    try:
        root = yaml.compose(content, Loader=yaml.SafeLoader)
        # The plain values the schema checks, from the same nodes that give each problem its line.
        document = yaml.SafeLoader("").construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise Invalid(f"is not valid YAML: {path}{line}: {getattr(error, 'problem', error)}") from None
    problems = Problems(path)
    for schema_error in validator().iter_errors(document):
        for node, message in structure_problems(schema_error, document, root):
            problems.add(node, message)
    parsed = [parsed_profile(node, index, problems) for index, node in profile_nodes(root)]
    across_profiles(parsed, problems)
    if problems.found:
        lines = "\n".join(f"      {found}" for found in problems.listed())
        raise Invalid(f"has {len(problems.found)} problem(s):\n{lines}")
    return tuple(Profile(**values) for values, _ in parsed)


# -- the structure, by the JSON Schema ------------------------------------------------------------------------


@cache
def validator() -> "jsonschema.protocols.Validator":
    """The schema's validator; jsonschema is imported only where a profiles file is read (it is slow to import)."""
    import jsonschema

    return jsonschema.Draft202012Validator(json_schema())


def structure_problems(error: "jsonschema.ValidationError", document: object, root: yaml.Node | None):
    """What a schema error means, in the words of the file, at its line; nothing for an error about one field's
    value, which that field's parser reports with what is allowed."""
    path = tuple(error.absolute_path)
    node = node_at(root, path)
    if len(path) < 1:
        return [(node, FILE_SHAPE)]
    if path == ("profiles",):
        return [(node, "profiles must be a list of at least one profile")]
    fields, where = mapping_at(path, document)
    if fields is None:
        if path[2:] == ("volumes",) and error.validator == "type":
            return [(node, f"{mapping_at(path[:2], document)[1]}: volumes must be a list")]
        return []
    allowed = ", ".join(one.name for one in fields)
    if error.validator == "type":
        return [(node, f"{where} must be a mapping of fields ({allowed})")]
    if error.validator == "additionalProperties":
        known = {one.name for one in fields}
        keys = [key for key, _ in node.value] if isinstance(node, yaml.MappingNode) else []
        return [
            (key, f"{where}: {key.value} is not a field; allowed: {allowed}") for key in keys if key.value not in known
        ]
    if error.validator == "required":
        return [(node, f"{where}: {name} is required") for name in error.validator_value if name not in error.instance]
    return []


def mapping_at(path: tuple, document: object) -> tuple[tuple[Field, ...] | None, str]:
    """The fields of the mapping at path (a profile, or one of its volumes), and how messages name it."""
    if len(path) == 2:
        listing = cast(dict, document)["profiles"]
        return FIELDS, profile_label(listing[path[1]], path[1] + 1)
    if len(path) == 4 and path[2] == "volumes":
        return VOLUME_FIELDS, f"{mapping_at(path[:2], document)[1]}, volumes[{path[3] + 1}]"
    return None, ""


def profile_label(values: object, number: int) -> str:
    """How messages name a profile: by its name as written, else by its place in the list."""
    name = values.get("name") if isinstance(values, dict) else None
    return f"profile {name!r}" if isinstance(name, str) else f"profile {number}"


def node_at(root: yaml.Node | None, path: tuple) -> yaml.Node | None:
    """The YAML node at a JSON path, for its line."""
    node = root
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == step), node)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
    return node


# -- the values, by each field's parser -----------------------------------------------------------------------


def profile_nodes(root: yaml.Node | None) -> Iterator[tuple[int, yaml.MappingNode]]:
    listing = node_at(root, ("profiles",)) if isinstance(root, yaml.MappingNode) else None
    if isinstance(listing, yaml.SequenceNode):
        for index, node in enumerate(listing.value, start=1):
            if isinstance(node, yaml.MappingNode):
                yield index, node


def parsed_profile(node: yaml.MappingNode, index: int, problems: Problems) -> tuple[dict, yaml.Node]:
    name = node_at(node, ("name",))
    where = profile_label({"name": name.value} if isinstance(name, yaml.ScalarNode) else {}, index)
    values = field_values(node, FIELDS, problems, where)
    volumes, paths = [], set()
    volume_nodes = node_at(node, ("volumes",))
    if "volumes" in values and isinstance(volume_nodes, yaml.SequenceNode):
        for number, volume_node in enumerate(volume_nodes.value, start=1):
            if not isinstance(volume_node, yaml.MappingNode):
                continue
            volume = field_values(volume_node, VOLUME_FIELDS, problems, f"{where}, volumes[{number}]")
            if volume.get("mount_path") in paths:
                problems.add(volume_node, f"{where}: two volumes at {volume['mount_path']}")
            paths.add(volume.get("mount_path"))
            if {"name", "mount_path"} <= volume.keys():
                volumes.append(SharedVolume(**volume))
    values["volumes"] = tuple(volumes)
    return values, node


def field_values(node: yaml.MappingNode, fields: tuple[Field, ...], problems: Problems, where: str) -> dict:
    """Each known field's value, parsed; a bad one is a problem at its line, and a key given twice too."""
    by_name = {one.name: one for one in fields}
    values: dict[str, object] = {}
    seen = set()
    for key_node, value_node in node.value:
        key, declared = key_node.value, by_name.get(key_node.value)
        if key in seen:
            problems.add(key_node, f"{where}: {key} is given twice")
        seen.add(key)
        if declared is None:
            continue
        if declared.items:
            values[key] = ()
            continue
        try:
            values[key] = declared.parse(yaml.SafeLoader("").construct_object(value_node, deep=True))
        except Invalid as error:
            problems.add(value_node, f"{where}: {key} {error}")
    return values


def across_profiles(parsed: list[tuple[dict, yaml.Node]], problems: Problems) -> None:
    """Rules between profiles: names unique, at most one default."""
    seen: set[str] = set()
    for values, node in parsed:
        name = values.get("name")
        if name is None:
            continue
        if name in seen:
            problems.add(node, f"profile {name!r} is declared twice; names must be unique")
        seen.add(name)
    defaults = [node for values, node in parsed if values.get("default")]
    if len(defaults) > 1:
        lines = ", ".join(str(node.start_mark.line + 1) for node in defaults)
        problems.add(defaults[1], f"{len(defaults)} profiles are marked default (lines {lines}); at most one may be")
