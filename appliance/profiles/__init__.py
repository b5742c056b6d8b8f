"""Profiles: the servers users may choose at spawn, and who may choose which.

- `model`: a profile and its shared volumes, as plain values;
- `fields`: each field of the file declared once (docs, JSON Schema, value parser);
- `file`: PROFILES_FILE read, its structure checked by the schema, every problem with its line;
- `policy`: this hub's profiles, and the one a server's options choose for its owner.
"""

from appliance.profiles.fields import FIELDS, SCHEMA_FILE, json_schema, rendered_schema
from appliance.profiles.file import DEFAULT_PROFILES_FILE, ProfilesFileKind, parse_file, parse_text
from appliance.profiles.model import SWARM_ONLY_FIELDS, Profile, ProfilesFile, SharedVolume, gpus_shown
from appliance.profiles.policy import ProfileRefused, chosen, images_in_use, in_use

__all__ = [
    "DEFAULT_PROFILES_FILE",
    "FIELDS",
    "SCHEMA_FILE",
    "SWARM_ONLY_FIELDS",
    "Profile",
    "ProfileRefused",
    "ProfilesFile",
    "ProfilesFileKind",
    "SharedVolume",
    "chosen",
    "gpus_shown",
    "images_in_use",
    "in_use",
    "json_schema",
    "parse_file",
    "parse_text",
    "rendered_schema",
]
