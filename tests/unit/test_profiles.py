"""The profiles file: every rule with its line, the schema from the same declaration, and who may start what."""

import json
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml
from docker.types import HostConfig
from traitlets.config import Config

from appliance.docs import render_profile_fields
from appliance.hub_config import apply
from appliance.kinds import Invalid
from appliance.profiles import (
    FIELDS,
    SCHEMA_FILE,
    Profile,
    ProfileRefused,
    SharedVolume,
    chosen,
    json_schema,
    parse_text,
)
from appliance.settings import SettingsError, load
from appliance.spawners import ApplianceDockerSpawner, ApplianceSwarmSpawner, SpawnRefused
from appliance.spawners.profile_choice import device_requests, profiles_form
from tests.unit.test_hub_config import SECRETS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "profiles" / "example.yml"
THREE_PROFILES = """\
profiles:
  - name: small
    default: true
    mem_limit: 512M
    cpu_limit: 0.5
    environment: {COURSE: intro, THREADS: 2}
    volumes:
      - {name: course-material, mount_path: /home/jovyan/course}
      - {name: scratch, mount_path: /home/jovyan/scratch/, read_only: false}
  - name: large
    image: lab:2
    mem_limit: 2G
    cpu_limit: 2
    groups: [staff]
  - name: gpu
    gpus: all
    groups: [gpu-users]
"""


def problems_of(text: str) -> str:
    with pytest.raises(Invalid) as raised:
        parse_text(text, "profiles.yml")
    return str(raised.value)


def test_the_example_parses_and_its_schema_accepts_it():
    document = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.validate(document, json_schema())
    profiles = parse_text(EXAMPLE.read_text(), str(EXAMPLE))
    assert [p.name for p in profiles] == ["small", "large", "gpu"]
    small = profiles[0]
    assert small.volumes == (
        SharedVolume("course-material", "/home/jovyan/course", read_only=True),
        SharedVolume("shared-scratch", "/home/jovyan/scratch", read_only=False),
    )
    assert profiles[1].environment == {"OMP_NUM_THREADS": "4"}
    assert profiles[2].gpus == 1 and profiles[2].groups == ("gpu-users",)


def test_values_are_parsed_into_their_kinds():
    small, large, gpu = parse_text(THREE_PROFILES, "profiles.yml")
    assert (small.mem_limit, small.cpu_limit, small.default, small.image) == ("512M", 0.5, True, None)
    assert small.environment == {"COURSE": "intro", "THREADS": "2"}
    assert small.volumes[1] == SharedVolume("scratch", "/home/jovyan/scratch", read_only=False)
    assert (large.image, large.groups, large.default) == ("lab:2", ("staff",), False)
    assert gpu.gpus == "all"
    assert parse_text("profiles:\n  - {name: a, gpus: [0, GPU-3a]}\n", "f")[0].gpus == ("0", "GPU-3a")


BAD_FILES = [
    (
        "profiles:\n  - name: a\n    mem_limt: 1G\n",
        "profiles.yml:3: profile 'a': mem_limt is not a field; allowed: name,",
    ),
    (
        "profiles:\n  - {name: a, default: true}\n  - {name: b, default: true}\n",
        "profiles.yml:3: 2 profiles are marked default (lines 2, 3); at most one may be",
    ),
    (
        "profiles:\n  - name: a\n    mem_limit: 2 GB\n",
        "profiles.yml:3: profile 'a': mem_limit must be a size such as 512M",
    ),
    ("profiles:\n  - {name: a, mem_limit: 1K}\n", "mem_limit must be at least 6M, Docker's smallest memory limit"),
    ("profiles:\n  - {name: a, cpu_limit: 0}\n", "profiles.yml:2: profile 'a': cpu_limit must be a number above 0"),
    ("profiles:\n  - {name: a, cpu_limit: true}\n", "cpu_limit must be a number above 0"),
    (
        "profiles:\n  - name: a\n    volumes:\n      - {name: data, mount_path: data}\n",
        "profiles.yml:4: profile 'a', volumes[1]: mount_path must be an absolute path inside the server",
    ),
    (
        "profiles:\n  - name: a\n    volumes:\n      - {name: data, mount_path: /home/jovyan/work}\n",
        "mount_path is /home/jovyan/work, where each user's own volume is mounted",
    ),
    (
        "profiles:\n  - name: a\n    volumes:\n      - {name: data, mount_path: /home/jovyan/}\n",
        "mount_path is /home/jovyan, where each user's own volume is mounted",
    ),
    (
        "profiles:\n  - name: a\n    volumes:\n      - {name: d, mount_path: /d}\n",
        "profiles.yml:4: profile 'a', volumes[1]: name must be a Docker volume name",
    ),
    ("profiles:\n  - name: a\n    volumes:\n      - {mount_path: /d}\n", "volumes[1]: name is required"),
    (
        "profiles:\n  - name: a\n    volumes:\n      - {name: x1, mount_path: /d}\n"
        "      - {name: x2, mount_path: /d}\n",
        "profiles.yml:5: profile 'a': two volumes at /d",
    ),
    ("profiles:\n  - name: a\n   image: x\n", "is not valid YAML: profiles.yml:3: expected <block end>"),
    (
        "profiles:\n  - {name: a, image: 'Lab:1'}\n",
        "profiles.yml:2: profile 'a': image must be a Docker image reference",
    ),
    ("profiles:\n  - {name: Big}\n", "profiles.yml:2: profile 'Big': name must be a slug"),
    ("profiles:\n  - {name: a}\n  - {name: a}\n", "profiles.yml:3: profile 'a' is declared twice"),
    ("profiles:\n  - {display_name: A}\n", "profiles.yml:2: profile 1: name is required"),
    ("profiles:\n  - {name: a, gpus: 0}\n", "gpus must be all, a number of GPUs (1 or more), or a list of device ids"),
    (
        "profiles:\n  - {name: a, gpus: [0, 0]}\n",
        "gpus must be all, a number of GPUs (1 or more), or a list of device ids",
    ),
    (
        "profiles:\n  - {name: a, environment: {JUPYTERHUB_API_TOKEN: x}}\n",
        "environment has JUPYTERHUB_API_TOKEN: JUPYTERHUB_ and JPY_ variables are set by the hub",
    ),
    ("profiles:\n  - {name: a, environment: {DEBUG: yes}}\n", "values must be text or numbers (quote true, false"),
    ("profiles:\n  - {name: a, groups: staff}\n", "profiles.yml:2: profile 'a': groups must be a list of names"),
    ("profiles:\n  - {name: a, placement: [gpu]}\n", "placement must be Swarm constraints like node.labels.gpu==true"),
    ("profiles:\n  - {name: a, default: 1}\n", "default must be true or false"),
    ("profiles: []\n", "profiles.yml:1: profiles must be a list of at least one profile"),
    ("- name: a\n", "profiles.yml:1: the file must be a mapping with one key, profiles"),
    ("profiles:\n  - name: a\nimages: [x]\n", "the file must be a mapping with one key, profiles"),
    ("profiles:\n  - just-a-name\n", "profiles.yml:2: profile 1 must be a mapping of fields (name, display_name"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_each_bad_file_is_refused_with_its_line_and_what_is_allowed(text, message):
    assert message in problems_of(text)


# Rules across fields and profiles, and the appliance's own limits, that a JSON Schema does not say.
PARSER_ONLY = ("at most one may be", "two volumes at", "own volume is mounted", "smallest", "twice", "valid YAML")


@pytest.mark.parametrize(
    "text", [text for text, message in BAD_FILES if not any(rule in message for rule in PARSER_ONLY)]
)
def test_the_schema_refuses_what_the_parser_refuses(text):
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(yaml.safe_load(text))), text


def test_every_problem_of_a_file_is_listed_at_once():
    text = "profiles:\n  - name: A\n    cpu_limit: -1\n  - name: b\n    mem_limit: lots\n    extra: 1\n"
    message = problems_of(text)
    assert message.startswith("has 4 problem(s):")
    for where in ("profiles.yml:2:", "profiles.yml:3:", "profiles.yml:5:", "profiles.yml:6:"):
        assert where in message


def test_the_schema_and_the_readme_come_from_the_same_fields():
    schema_fields = json_schema()["properties"]["profiles"]["items"]["properties"]
    assert list(schema_fields) == [field.name for field in FIELDS]
    assert json.loads((ROOT / SCHEMA_FILE).read_text()) == json_schema()
    for field in FIELDS:
        assert f"| `{field.name}`" in render_profile_fields()


# -- the settings around the file ---------------------------------------------------------------------------


def write(tmp_path, text: str) -> str:
    path = tmp_path / "profiles.yml"
    path.write_text(text)
    return str(path)


def problem_text(**environ) -> str:
    with pytest.raises(SettingsError) as raised:
        load({**SECRETS, **environ})
    return str(raised.value)


def test_a_bad_profiles_file_stops_the_hub_naming_the_setting_and_the_line(tmp_path):
    path = write(tmp_path, "profiles:\n  - name: a\n    mem_limit: much\n")
    message = problem_text(PROFILES_FILE=path)
    assert f"PROFILES_FILE='{path}': has 1 problem(s):" in message
    assert f"{path}:3: profile 'a': mem_limit must be a size" in message


def test_the_default_path_may_be_missing_but_a_named_file_may_not(tmp_path):
    assert load(SECRETS)["PROFILES_FILE"] is None
    assert "cannot be read: No such file or directory" in problem_text(PROFILES_FILE=str(tmp_path / "missing.yml"))
    assert "as an absolute path" in problem_text(PROFILES_FILE="profiles.yml")


def test_a_profiles_file_replaces_allowed_images(tmp_path):
    message = problem_text(PROFILES_FILE=write(tmp_path, THREE_PROFILES), ALLOWED_IMAGES="lab:2")
    assert "ALLOWED_IMAGES=(set): cannot be used together with the profiles file" in message


def test_swarm_fields_of_a_profile_need_swarm_mode(tmp_path):
    path = write(tmp_path, "profiles:\n  - {name: a, mem_reservation: 1G, placement: [node.labels.gpu==true]}\n")
    assert "profile 'a' sets mem_reservation, placement, which only apply when SPAWNER_MODE=swarm" in problem_text(
        PROFILES_FILE=path
    )
    assert (
        load({**SECRETS, "PROFILES_FILE": path, "SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"})[
            "PROFILES_FILE"
        ]
        .profiles[0]
        .placement
    )


def test_swarm_cannot_reserve_all_gpus(tmp_path):
    message = problem_text(PROFILES_FILE=write(tmp_path, THREE_PROFILES), SPAWNER_MODE="swarm")
    assert "profile 'gpu' has gpus: all, which Swarm cannot schedule" in message


@pytest.mark.parametrize("image", ["Lab:1", "lab:1:2", "lab image", "-lab", "lab@sha256:abc", "registry:5000/"])
def test_malformed_image_references_are_refused_by_name(image):
    assert f"SINGLEUSER_IMAGE={image!r}: must be a Docker image reference" in problem_text(SINGLEUSER_IMAGE=image)
    message = problem_text(ALLOWED_IMAGES=f"lab:1,{image}")
    assert f"ALLOWED_IMAGES='lab:1,{image}'" in message and f"these entries are not: {image}" in message


@pytest.mark.parametrize(
    "image",
    [
        "lab",
        "quay.io/jupyter/scipy-notebook:hub-6.1.1",
        "localhost:5000/a/b:c",
        "a__b/c-d.e:T_1",
        "x@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references_are_taken(image):
    assert load({**SECRETS, "SINGLEUSER_IMAGE": image})["SINGLEUSER_IMAGE"] == image


# -- who may start what ------------------------------------------------------------------------------------

SMALL, LARGE, GPU = (
    Profile("small", image="lab:1", default=True),
    Profile("large", image="lab:2", groups=("staff",)),
    Profile("gpu", image="lab:1", gpus="all", groups=("gpu-users",)),
)
ALL = (LARGE, SMALL, GPU)


def refusal(options: dict, groups=()) -> ProfileRefused:
    with pytest.raises(ProfileRefused) as raised:
        chosen(ALL, options, groups, "alice")
    return raised.value


def test_no_choice_is_the_default_profile_else_the_first_open_one():
    assert chosen(ALL, {}, [], "alice") is SMALL
    assert chosen((LARGE, GPU), {}, ["gpu-users"], "alice") is GPU


def test_a_profile_is_chosen_by_name_within_the_users_groups():
    assert chosen(ALL, {"profile": "large"}, ["staff"], "alice") is LARGE
    refused = refusal({"profile": "large"}, ["gpu-users"])
    assert refused.status == 403
    assert "The profile large is for members of staff, and alice is in none of these groups" in str(refused)
    assert "Profiles open to alice: small, gpu." in str(refused)


def test_a_made_up_profile_or_option_is_a_bad_request():
    assert refusal({"profile": "huge"}).status == 400
    assert "There is no profile 'huge' on this hub" in str(refusal({"profile": "huge"}))
    assert refusal({"profile": ["small"]}).status == 400
    assert refusal({"cpu_limit": 64}).status == 400
    assert "Unknown server option(s): cpu_limit" in str(refusal({"cpu_limit": 64}))


def test_an_image_is_taken_only_from_the_users_own_profiles():
    assert chosen(ALL, {"image": "lab:1"}, [], "alice") is SMALL
    assert chosen(ALL, {"image": "lab:2"}, ["staff"], "alice") is LARGE
    assert refusal({"image": "lab:2"}).status == 403
    assert refusal({"image": "evil:latest"}).status == 403
    assert refusal({"profile": "small", "image": "lab:2"}, ["staff"]).status == 400


def test_a_user_in_no_group_of_any_profile_gets_none():
    with pytest.raises(ProfileRefused) as raised:
        chosen((LARGE,), {}, [], "alice")
    assert raised.value.status == 403 and "No profile of this hub is open to alice" in str(raised.value)


# -- the spawner ---------------------------------------------------------------------------------------------


def spawner(tmp_path, groups=(), spawner_class=ApplianceDockerSpawner, **environ):
    c = Config()
    apply(load({**SECRETS, "PROFILES_FILE": write(tmp_path, environ.pop("text", THREE_PROFILES)), **environ}), c)
    user = SimpleNamespace(
        name="alice", groups=[SimpleNamespace(name=g) for g in groups], url="/user/alice/", escaped_name="alice", id=1
    )
    return spawner_class(config=c, user=user)


def test_each_start_applies_its_profile_from_the_configured_values(tmp_path):
    server = spawner(tmp_path, groups=["staff"], MEM_LIMIT="1G")
    server.user_options = {"profile": "small"}
    server.apply_devices_and_placement(server.apply_profile())
    assert (server.image, server.mem_limit, server.cpu_limit) == (load(SECRETS)["SINGLEUSER_IMAGE"], 512 * 1024**2, 0.5)
    assert server.environment["COURSE"] == "intro"
    assert server.volumes["course-material"] == {"bind": "/home/jovyan/course", "mode": "ro"}
    assert server.volumes["scratch"] == {"bind": "/home/jovyan/scratch", "mode": "rw"}
    assert set(server.shared_volumes) == {"course-material", "scratch"}
    # The next start of the same server, with another profile, keeps nothing of the first.
    server.user_options = {"profile": "large"}
    server.apply_devices_and_placement(server.apply_profile())
    assert (server.image, server.mem_limit, server.cpu_limit) == ("lab:2", 2 * 1024**3, 2.0)
    assert "COURSE" not in server.environment
    assert list(server.volumes) == ["jupyterhub-appliance-user-{username}"]
    assert "device_requests" not in server.extra_host_config
    assert server.extra_host_config["cap_drop"] == ["ALL"]
    # What hooks add before a start (the GitHub token, say) stays; what the last profile added goes.
    server.environment = {**server.environment, "GITHUB_TOKEN": "gho_x"}
    server.user_options = {"profile": "small"}
    server.apply_profile()
    assert server.environment["GITHUB_TOKEN"] == "gho_x" and server.environment["COURSE"] == "intro"


def test_a_start_outside_the_owners_groups_is_refused_before_anything_else(tmp_path):
    server = spawner(tmp_path, groups=[])
    server.user_options = {"profile": "large"}
    with pytest.raises(SpawnRefused) as raised:
        server.apply_profile()
    assert raised.value.status_code == 403


def test_gpus_become_device_requests_in_docker_mode(tmp_path):
    server = spawner(tmp_path, groups=["gpu-users"])
    server.user_options = {"profile": "gpu"}
    server.apply_devices_and_placement(server.apply_profile())
    assert server.extra_host_config["device_requests"] == [{"count": -1, "capabilities": [["gpu"]]}]
    assert device_requests(2) == [{"count": 2, "capabilities": [["gpu"]]}]
    assert device_requests(("0", "3")) == [{"device_ids": ["0", "3"], "capabilities": [["gpu"]]}]
    # What docker-py sends the engine (API 1.41, the oldest the appliance supports), built without a daemon.
    host_config = HostConfig(version="1.41", device_requests=server.extra_host_config["device_requests"])
    assert host_config["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]


def test_swarm_gets_generic_resources_placement_and_reservations_per_profile(tmp_path):
    text = (
        "profiles:\n  - name: gpu\n    gpus: 2\n    mem_reservation: 4G\n    cpu_reservation: 2\n"
        "    placement: [node.labels.gpu==true]\n  - {name: two, gpus: [GPU-a, GPU-b]}\n"
    )
    server = spawner(
        tmp_path,
        spawner_class=ApplianceSwarmSpawner,
        text=text,
        SPAWNER_MODE="swarm",
        USER_NETWORK_ISOLATION="off",
        SWARM_PLACEMENT="node.role==worker",
    )
    server.user_options = {"profile": "gpu"}
    server.apply_devices_and_placement(server.apply_profile())
    assert server.extra_placement_spec["constraints"] == ["node.role==worker", "node.labels.gpu==true"]
    assert server.generic_resources == [{"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]
    assert (server.mem_guarantee, server.cpu_guarantee) == (4 * 1024**3, 2.0)
    server.user_options = {"profile": "two"}
    server.apply_devices_and_placement(server.apply_profile())
    assert server.extra_placement_spec["constraints"] == ["node.role==worker"]
    assert server.generic_resources == [
        {"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": "GPU-a"}},
        {"NamedResourceSpec": {"Kind": "NVIDIA-GPU", "Value": "GPU-b"}},
    ]
    assert server.mem_guarantee is None


def test_the_spawn_page_lists_only_the_owners_profiles_escaped(tmp_path):
    text = (
        "profiles:\n  - {name: small, description: '<script>alert(1)</script>', default: true}\n"
        "  - {name: large, display_name: 'Large & <b>fast</b>', groups: [staff]}\n"
        "  - {name: gpu, gpus: 1, groups: [g]}\n"
    )
    form = profiles_form(spawner(tmp_path, groups=["staff"], text=text))
    assert 'value="small" checked' in form and 'value="large"' in form and 'value="gpu"' not in form
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in form and "<script>" not in form
    assert "Large &amp; &lt;b&gt;fast&lt;/b&gt;" in form
    assert "2G memory &middot; 1 CPU" in form
    assert profiles_form(spawner(tmp_path, groups=[], text=text)) == "", "one profile: nothing to choose"


QUOTA_PROFILES = """\
profiles:
  - name: small
    default: true
  - name: big-data
    disk_quota: 20G
"""


def test_a_profiles_disk_quota_replaces_user_disk_quota_for_its_starts(tmp_path):
    server = spawner(tmp_path, text=QUOTA_PROFILES, USER_STORAGE_DIR="/srv/homes", USER_DISK_QUOTA="5G")
    assert server.disk_quota == 5 * 1024**3
    server.user_options = {"profile": "big-data"}
    server.apply_profile()
    assert server.disk_quota == 20 * 1024**3
    server.user_options = {"profile": "small"}
    server.apply_profile()
    assert server.disk_quota == 5 * 1024**3


def test_a_disk_quota_needs_user_storage_dir_and_a_size(tmp_path):
    with pytest.raises(SettingsError, match="profile 'big-data' sets disk_quota, which needs USER_STORAGE_DIR"):
        load({**SECRETS, "PROFILES_FILE": write(tmp_path, QUOTA_PROFILES)})
    assert "must be at least 1M" in problems_of("profiles:\n  - name: tiny\n    disk_quota: 10K\n")
