"""The Docker broker's policy (appliance.broker.policy): every request the appliance sent in real runs passes, and
each rule refuses the request that breaks it.

The fixtures in tests/unit/broker_requests/ were recorded from real e2e runs through the broker in every mode
(`BROKER_RECORD_DIR=/some/dir pytest -m e2e tests/e2e/test_….py`, one JSON-lines file per stack: the instance the
broker served, then each request it let through with the labels it was decided on; environment values left out),
then curated by scripts/curate-broker-requests.py (requests that differ only in ids kept once).
"""

import copy
import json
from pathlib import Path

import pytest

from appliance.broker.policy import Instance, Request, Target, decide, normalised_image, targets
from appliance.helpers import (
    ARCHIVE_ENTRYPOINT,
    COPY_CAPABILITIES,
    COPY_ENTRYPOINT,
    COPY_SOURCE,
    COPY_TARGET,
    HOST_VIEW_ENTRYPOINT,
    RESTIC_BACKUP_CAPABILITIES,
    RESTIC_ENTRYPOINT,
    RESTIC_RESTORE_CAPABILITIES,
    RULES_ENTRYPOINT,
    STORAGE_CAPABILITIES,
    STORAGE_ENTRYPOINT,
    STORAGE_MOUNT,
    home_entrypoint,
)
from appliance.labels import LABEL_HELPER_FOR, LABEL_HUB_OF, LABEL_INSTANCE, LABEL_SHARED, LABEL_USER

RECORDED = sorted((Path(__file__).parent / "broker_requests").glob("*.jsonl"))
OWN_IMAGE = "sha256:" + "a" * 64
USER_IMAGE = "ghcr.io/jupyterhub-appliance/jupyterhub-appliance-singleuser:0.2.0"
COURSE = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net")
ALICE = {LABEL_INSTANCE: "course", LABEL_USER: "alice"}
ALICE_VOLUME = Target("volume", "jupyterhub-user-alice")
SERVER_ID = "b" * 64


def recorded_requests() -> list[tuple[str, Instance, Request, dict]]:
    cases = []
    for path in RECORDED:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        instance = instance_of(lines[0]["instance"])
        for line in lines[1:]:
            found = {Target(kind, name): labels for kind, name, labels in line["found"]}
            request = Request(line["method"], line["path"], line["query"], line["body"])
            cases.append((path.stem, instance, request, found))
    return cases


def instance_of(fields: dict) -> Instance:
    driver = fields["volume_driver"]
    return Instance(
        **{
            **fields,
            "user_images": frozenset(fields["user_images"]),
            "volume_driver": (driver[0], tuple(tuple(option) for option in driver[1])) if driver else None,
            "account_files": tuple(fields["account_files"]),
        }
    )


def test_fixtures_were_recorded_in_every_mode():
    assert {path.stem.split("-")[0] for path in RECORDED} == {"docker", "system", "swarm"}
    paths = {request.path.split("/", 2)[-1] for _, _, request, _ in recorded_requests()}
    assert {"containers/create", "volumes/create", "services/create", "images/create"} <= paths
    assert len(recorded_requests()) > 100


def test_the_restic_helpers_backups_and_restores_were_recorded():
    capabilities = {
        tuple(sorted(request.body["HostConfig"].get("CapAdd") or ()))
        for _, _, request, _ in recorded_requests()
        if request.path.endswith("/containers/create") and request.body.get("Entrypoint") == RESTIC_ENTRYPOINT
    }
    assert {(), tuple(RESTIC_BACKUP_CAPABILITIES), tuple(sorted(RESTIC_RESTORE_CAPABILITIES))} <= capabilities


def recorded_server_create() -> tuple[Instance, Request, dict]:
    """The first user server's create recorded in docker mode, with the instance and labels it was decided on."""
    for name, instance, request, found in recorded_requests():
        labels = (request.body or {}).get("Labels") or {} if request.path.endswith("/containers/create") else {}
        if name.startswith("docker") and LABEL_USER in labels and request.body["Image"] != instance.own_image:
            return instance, request, found
    raise AssertionError("no user server's create was recorded")


def mutated(request: Request, **host_config) -> Request:
    body = copy.deepcopy(request.body)
    body["HostConfig"].update(host_config)
    return Request(request.method, request.path, request.query, body)


@pytest.mark.parametrize(
    ("mutation", "rule"),
    [
        ({"Privileged": True}, "Privileged"),
        ({"Binds": ["/:/host"]}, "host path /"),
        ({"NetworkMode": "host"}, "NetworkMode host"),
        ({"CapAdd": ["SYS_ADMIN"]}, "CapAdd SYS_ADMIN"),
        ({"SecurityOpt": ["no-new-privileges", "apparmor=unconfined"]}, "unconfined"),
        ({"PidMode": "host"}, "PidMode"),
    ],
)
def test_a_recorded_server_create_mutated_against_each_rule_is_refused(mutation, rule):
    instance, request, found = recorded_server_create()
    assert decide(request, instance, found)
    verdict = decide(mutated(request, **mutation), instance, found)
    assert not verdict and rule in verdict.rule


def test_a_recorded_server_create_with_another_image_or_instance_is_refused():
    instance, request, found = recorded_server_create()
    other_image = Request(request.method, request.path, request.query, {**request.body, "Image": "alpine:3"})
    assert "image alpine:3" in decide(other_image, instance, found).rule
    labels = {**request.body["Labels"], LABEL_INSTANCE: "another-appliance"}
    other_label = Request(request.method, request.path, request.query, {**request.body, "Labels": labels})
    assert "must carry the label" in decide(other_label, instance, found).rule


@pytest.mark.parametrize(
    ("name", "instance", "request_", "found"),
    recorded_requests(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_recorded_request_passes(name, instance, request_, found):
    assert set(targets(request_)) <= set(found)
    verdict = decide(request_, instance, found)
    assert verdict, f"{request_.method} {request_.path}: {verdict.rule}"


def server_create() -> dict:
    """A user server's create, as dockerspawner sends it through docker-py (trimmed to what the policy reads)."""
    return {
        "Image": USER_IMAGE,
        "Labels": {**ALICE, "jupyterhub-appliance.server": ""},
        "Env": ["JUPYTERHUB_API_TOKEN=…"],
        "HostConfig": {
            "Binds": ["jupyterhub-user-alice:/home/jovyan/work:rw"],
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "PidsLimit": 512,
            "NetworkMode": "course-net",
            "Privileged": False,
        },
        "NetworkingConfig": {"EndpointsConfig": {"course-net": {}}},
    }


def create(body: dict, found: dict | None = None, instance: Instance = COURSE):
    request = Request("POST", "/v1.41/containers/create", {"name": "jupyter-alice"}, body)
    return decide(request, instance, {ALICE_VOLUME: ALICE, **(found or {})})


def changed(**host_config) -> dict:
    body = server_create()
    body["HostConfig"].update(host_config)
    return body


def test_a_user_server_passes():
    assert create(server_create())


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (changed(Privileged=True), "Privileged"),
        (changed(Binds=["/:/host"]), "host path /"),
        (changed(Binds=["/var/run/docker.sock:/var/run/docker.sock"]), "host path"),
        (changed(Mounts=[{"Type": "bind", "Source": "/etc", "Target": "/x"}]), "host path /etc"),
        (changed(NetworkMode="host"), "NetworkMode host"),
        (changed(CapAdd=["SYS_ADMIN"]), "CapAdd SYS_ADMIN"),
        (changed(CapAdd=["NET_ADMIN"]), "CapAdd NET_ADMIN"),
        (changed(CapDrop=[]), "CapDrop"),
        (changed(SecurityOpt=[]), "no-new-privileges"),
        (changed(SecurityOpt=["no-new-privileges", "seccomp=unconfined"]), "unconfined"),
        (changed(SecurityOpt=["no-new-privileges", "apparmor=unconfined"]), "unconfined"),
        (changed(SecurityOpt=["no-new-privileges", "label=disable"]), "label=disable"),
        (changed(PidMode="host"), "PidMode"),
        (changed(IpcMode="host"), "IpcMode"),
        (changed(UsernsMode="host"), "UsernsMode"),
        (changed(UTSMode="host"), "UTSMode"),
        (changed(CgroupnsMode="host"), "CgroupnsMode"),
        (changed(Devices=[{"PathOnHost": "/dev/sda"}]), "Devices"),
        (changed(DeviceRequests=[{"Count": -1, "Capabilities": [["gpu"]]}]), "GPUs"),
        (changed(PidsLimit=0), "PidsLimit"),
        (changed(VolumesFrom=["hub"]), "VolumesFrom"),
        (changed(Runtime="sysbox-runc"), "runtime"),
        ({**server_create(), "Image": "alpine:3"}, "image alpine:3"),
        ({**server_create(), "Labels": {LABEL_INSTANCE: "lab", LABEL_USER: "alice"}}, "label"),
        ({**server_create(), "Labels": {}}, "label"),
    ],
)
def test_each_rule_refuses_what_breaks_it(body, rule):
    verdict = create(body)
    assert not verdict and rule in verdict.rule


def test_a_user_server_mounts_only_its_own_volumes():
    other = {Target("volume", "jupyterhub-user-bob"): {LABEL_INSTANCE: "course", LABEL_USER: "bob"}}
    verdict = create(changed(Binds=["jupyterhub-user-bob:/home/jovyan/work"]), other)
    assert not verdict and "not alice's" in verdict.rule
    shared = {Target("volume", "course-data"): {LABEL_INSTANCE: "course", LABEL_SHARED: "true"}}
    assert create(changed(Binds=["jupyterhub-user-alice:/home/jovyan/work", "course-data:/data:ro"]), shared)


def test_another_instances_volume_is_refused_with_both_names():
    lab = {ALICE_VOLUME: {LABEL_INSTANCE: "lab", LABEL_USER: "alice"}}
    verdict = create(server_create(), lab)
    assert not verdict and "belongs to the appliance lab, not course's" in verdict.rule


def test_gpus_pass_where_a_profile_asks_for_them():
    with_gpus = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net", gpus=True)
    assert create(changed(DeviceRequests=[{"Count": -1, "Capabilities": [["gpu"]]}]), instance=with_gpus)


def helper(entrypoint: list[str], network_mode: str, cap_add: list[str], user: str = "0") -> dict:
    return {
        "Image": OWN_IMAGE,
        "Entrypoint": entrypoint,
        "User": user,
        "Labels": {LABEL_INSTANCE: "course", LABEL_HELPER_FOR: "alice"},
        "HostConfig": {
            "CapDrop": ["ALL"],
            "CapAdd": cap_add,
            "SecurityOpt": ["no-new-privileges"],
            "PidsLimit": 32,
            "NetworkMode": network_mode,
            "ReadonlyRootfs": True,
        },
    }


SERVER_FOUND = {Target("container", SERVER_ID): ALICE}


def test_the_rules_helper_gets_net_admin_in_a_servers_namespace_only():
    assert create(helper(RULES_ENTRYPOINT, f"container:{SERVER_ID}", ["NET_ADMIN"]), SERVER_FOUND)
    assert create(helper(RULES_ENTRYPOINT, "none", ["NET_ADMIN"]))
    for body in (
        helper(["sh", "-c", "iptables -F"], f"container:{SERVER_ID}", ["NET_ADMIN"]),
        helper(RULES_ENTRYPOINT, "host", ["NET_ADMIN"]),
        helper(RULES_ENTRYPOINT, f"container:{SERVER_ID}", ["NET_ADMIN", "SYS_ADMIN"]),
        {**helper(RULES_ENTRYPOINT, f"container:{SERVER_ID}", ["NET_ADMIN"]), "Image": USER_IMAGE},
    ):
        assert not create(body, SERVER_FOUND)


def test_no_helper_joins_the_hubs_namespace():
    hub = {Target("container", SERVER_ID): {LABEL_HUB_OF: "course"}}
    verdict = create(helper(RULES_ENTRYPOINT, f"container:{SERVER_ID}", ["NET_ADMIN"]), hub)
    assert not verdict and "not the hub's" in verdict.rule


def test_the_host_network_is_only_for_the_host_view_helper_as_nobody():
    assert create(helper(HOST_VIEW_ENTRYPOINT, "host", [], user="65534:65534"))
    assert not create(helper(HOST_VIEW_ENTRYPOINT, "host", [], user="0"))
    assert not create(helper(["sh", "-c", "id"], "host", [], user="65534:65534"))


def test_chown_is_only_for_the_home_helper_of_a_system_home():
    system = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "net", home_format="/home/{username}")
    home_helper = helper(home_entrypoint(1001, 1001), "none", ["CHOWN"])
    home_helper["HostConfig"]["Binds"] = ["/home/alice:/new-home:rw"]
    assert create(home_helper, instance=system)
    elsewhere = copy.deepcopy(home_helper)
    elsewhere["HostConfig"]["Binds"] = ["/etc:/new-home:rw"]
    assert not create(elsewhere, instance=system)
    assert not create(helper(["sh", "-c", "chown 0:0 /"], "none", ["CHOWN"]), instance=system)


def test_reading_every_file_is_only_for_the_archive_helper_writing_only_the_archives():
    archives = Target("volume", "course-user-archives")
    found = {archives: {LABEL_INSTANCE: "course"}}
    archiver = helper(ARCHIVE_ENTRYPOINT, "none", ["DAC_READ_SEARCH"])
    archiver["HostConfig"]["Binds"] = [
        "jupyterhub-user-alice:/volumes/jupyterhub-user-alice:ro",
        "course-user-archives:/archives:rw",
    ]
    assert create(archiver, found).rule.startswith("a hardened archive helper of course")
    writes_the_volume = copy.deepcopy(archiver)
    writes_the_volume["HostConfig"]["Binds"][0] = "jupyterhub-user-alice:/volumes/jupyterhub-user-alice:rw"
    networked = helper(ARCHIVE_ENTRYPOINT, "course-net", ["DAC_READ_SEARCH"])
    networked["HostConfig"]["Binds"] = archiver["HostConfig"]["Binds"]
    other_program = copy.deepcopy(archiver)
    other_program["Entrypoint"] = ["sh", "-c", "cat /volumes/*/.ssh/id_rsa"]
    for refused in (writes_the_volume, networked, other_program):
        verdict = create(refused, found)
        assert not verdict and "DAC_READ_SEARCH is only for the archive helper" in verdict.rule


BACKED_UP = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net", backup_repository="/srv/backups")
ALICES_VOLUME = "jupyterhub-user-alice:/volumes/jupyterhub-user-alice"


def restic_helper(capabilities: list[str], binds: list[str], network: str = "none") -> dict:
    body = helper(RESTIC_ENTRYPOINT, network, capabilities)
    body["HostConfig"]["Binds"] = binds
    return body


def test_the_restic_helper_reads_every_file_and_writes_only_the_repository():
    backup = restic_helper(RESTIC_BACKUP_CAPABILITIES, [f"{ALICES_VOLUME}:ro", "/srv/backups:/repository:rw"])
    assert create(backup, instance=BACKED_UP).rule.startswith("a hardened restic helper of course")
    repository = "/srv/backups:/repository:rw"
    refused = {
        "writes a volume": restic_helper(RESTIC_BACKUP_CAPABILITIES, [f"{ALICES_VOLUME}:rw", repository]),
        "networked": restic_helper(RESTIC_BACKUP_CAPABILITIES, [f"{ALICES_VOLUME}:ro", repository], "course-net"),
        "another host folder": restic_helper(RESTIC_BACKUP_CAPABILITIES, ["/etc:/repository:rw"]),
        "repository elsewhere": restic_helper(RESTIC_BACKUP_CAPABILITIES, ["/srv/backups:/volumes/x:rw"]),
        "more capabilities": restic_helper([*RESTIC_BACKUP_CAPABILITIES, "SYS_ADMIN"], ["/srv/backups:/repository:rw"]),
    }  # fmt: skip
    for why, body in refused.items():
        assert not create(body, instance=BACKED_UP), why
    other_program = copy.deepcopy(backup)
    other_program["Entrypoint"] = ["sh", "-c", "cp -a /volumes /repository"]
    assert not create(other_program, instance=BACKED_UP)


def test_the_restic_helper_restores_into_one_volume_reading_the_repository():
    restore = restic_helper(RESTIC_RESTORE_CAPABILITIES, [f"{ALICES_VOLUME}:rw", "/srv/backups:/repository:ro"])
    assert create(restore, instance=BACKED_UP).rule.startswith("a hardened restic restore helper of course")
    writes_the_repository = restic_helper(
        RESTIC_RESTORE_CAPABILITIES, [f"{ALICES_VOLUME}:rw", "/srv/backups:/repository:rw"]
    )
    writes_nothing_else = restic_helper(RESTIC_RESTORE_CAPABILITIES, ["/srv/backups:/repository:ro"])
    for body in (writes_the_repository, writes_nothing_else):
        assert not create(body, instance=BACKED_UP)


def test_the_restic_helper_has_the_network_only_for_a_repository_url():
    url_repository = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net")
    assert create(
        restic_helper(RESTIC_BACKUP_CAPABILITIES, [f"{ALICES_VOLUME}:ro"], "course-net"), instance=url_repository
    )
    assert not create(
        restic_helper(RESTIC_BACKUP_CAPABILITIES, [f"{ALICES_VOLUME}:ro"], "host"), instance=url_repository
    )
    assert not create(restic_helper([], ["/srv/backups:/repository:rw"]), instance=url_repository), "no host folder"


def test_system_mode_binds_the_users_home_and_the_account_files_read_only():
    system = Instance(
        "course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net", home_format="/home/{username}",
        min_uid=1000, account_files=("/etc/passwd", "/etc/group"),
    )  # fmt: skip
    body = server_create()
    body["User"] = "1001:1001"
    body["HostConfig"]["Binds"] = ["/etc/passwd:/etc/passwd:ro", "/etc/group:/etc/group:ro"]
    body["HostConfig"]["Mounts"] = [{"Type": "bind", "Source": "/home/alice", "Target": "/home/alice"}]
    assert create(body, instance=system)
    for change in (
        {"User": "0"},
        {"User": "999:999"},
        {"HostConfig": {**body["HostConfig"], "Binds": ["/etc/passwd:/etc/passwd:rw"]}},
        {"HostConfig": {**body["HostConfig"], "Mounts": [{"Type": "bind", "Source": "/home/bob", "Target": "/x"}]}},
        {"Labels": {**ALICE, LABEL_USER: "../root"}},
    ):
        assert not create({**body, **change}, instance=system), change


def volume_create(
    driver_options: dict, driver: str = "local", labels: dict | None = None, instance: Instance | None = None
) -> bool:
    body = {"Name": "v", "Driver": driver, "DriverOpts": driver_options, "Labels": labels or ALICE}
    return bool(decide(Request("POST", "/volumes/create", {}, body), instance or SWARM_HOMES, {}))


SWARM_HOMES = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "net", swarm_homes="/srv/homes")


def test_a_bind_type_volume_is_refused_but_a_folder_in_swarm_homes():
    assert volume_create({})
    assert not volume_create({}, labels={LABEL_INSTANCE: "lab"})
    assert not volume_create({"type": "none", "o": "bind", "device": "/"})
    assert not volume_create({"type": "none", "o": "bind", "device": "/srv/homes/../../etc"})
    assert not volume_create({"type": "none", "o": "bind", "device": "/srv/homes/a/b"})
    assert volume_create({"type": "none", "o": "bind", "device": "/srv/homes/jupyterhub-user-alice"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/v1.41/containers/{SERVER_ID}/exec"),
        ("POST", "/exec/abc/start"),
        ("POST", f"/containers/{SERVER_ID}/attach"),
        ("PUT", f"/containers/{SERVER_ID}/archive"),
        ("GET", f"/containers/{SERVER_ID}/archive"),
        ("POST", "/build"),
        ("POST", "/commit"),
        ("GET", "/plugins"),
        ("POST", "/plugins/pull"),
        ("GET", "/swarm"),
        ("POST", "/swarm/join"),
        ("POST", "/networks/create"),
        ("POST", "/containers/prune"),
        ("GET", "/secrets"),
        ("DELETE", "/images/alpine"),
    ],
)
def test_endpoints_the_appliance_does_not_use_are_refused(method, path):
    verdict = decide(Request(method, path), COURSE, {Target("container", SERVER_ID): ALICE})
    assert not verdict and verdict.missing is None


def test_actions_on_objects_of_other_instances_are_refused_and_missing_ones_answer_404():
    for method, path in (("GET", "/json"), ("POST", "/stop"), ("DELETE", ""), ("GET", "/logs")):
        request = Request(method, f"/v1.41/containers/{SERVER_ID}{path}")
        assert decide(request, COURSE, {Target("container", SERVER_ID): ALICE})
        other = decide(request, COURSE, {Target("container", SERVER_ID): {LABEL_INSTANCE: "lab"}})
        assert not other and "lab" in other.rule
        assert decide(request, COURSE, {Target("container", SERVER_ID): None}).missing == Target("container", SERVER_ID)


def test_the_hub_may_only_turn_its_own_restart_policy_off():
    hub = {Target("container", "hub1"): {LABEL_HUB_OF: "course"}}
    assert decide(Request("POST", "/containers/hub1/update", {}, {"RestartPolicy": {"Name": "no"}}), COURSE, hub)
    grow = {"RestartPolicy": {"Name": "no"}, "Memory": 0}
    assert not decide(Request("POST", "/containers/hub1/update", {}, grow), COURSE, hub)


def test_pulls_are_of_allowed_images_only():
    image, tag = USER_IMAGE.rsplit(":", 1)
    assert decide(Request("POST", "/images/create", {"fromImage": image, "tag": tag}), COURSE, {})
    assert not decide(Request("POST", "/images/create", {"fromImage": "alpine", "tag": "3"}), COURSE, {})


def test_image_references_are_compared_as_docker_reads_them():
    assert normalised_image("docker.io/library/python") == "python:latest"
    assert normalised_image("registry:5000/lab") == "registry:5000/lab:latest"
    assert normalised_image("lab@sha256:" + "c" * 64) == "lab@sha256:" + "c" * 64


def service_spec(**container_spec) -> dict:
    mount = {
        "Type": "volume",
        "Source": "jupyterhub-user-alice",
        "Target": "/home/jovyan/work",
        "VolumeOptions": {"Labels": ALICE},
    }
    return {
        "Name": "jupyter-alice",
        "Labels": ALICE,
        "TaskTemplate": {"ContainerSpec": {"Image": USER_IMAGE, "Mounts": [mount], **container_spec}},
    }


def test_services_are_checked_like_containers():
    create_service = Request("POST", "/services/create", {}, service_spec())
    assert decide(create_service, COURSE, {ALICE_VOLUME: None})
    for spec in (
        service_spec(Image="alpine:3"),
        service_spec(CapabilityAdd=["SYS_ADMIN"]),
        service_spec(Mounts=[{"Type": "bind", "Source": "/", "Target": "/host"}]),
        service_spec(Privileges={"Seccomp": {"Mode": "unconfined"}}),
        {**service_spec(), "Labels": {}},
        {**service_spec(), "TaskTemplate": {"Runtime": "plugin", "PluginSpec": {"Remote": "evil/plugin"}}},
    ):
        assert not decide(Request("POST", "/services/create", {}, spec), COURSE, {ALICE_VOLUME: None}), spec
    lab_volume = {ALICE_VOLUME: {LABEL_INSTANCE: "lab"}}
    assert not decide(create_service, COURSE, lab_volume)


def test_with_bad_settings_only_reads_and_the_hubs_restart_policy_pass():
    closed = Instance("course", OWN_IMAGE, frozenset(), "", closed=True)
    hub = {Target("container", "hub1"): {LABEL_HUB_OF: "course"}}
    assert decide(Request("GET", "/v1.41/containers/json"), closed, {})
    assert decide(Request("GET", "/containers/hub1/json"), closed, hub)
    assert decide(Request("POST", "/containers/hub1/update", {}, {"RestartPolicy": {"Name": "no"}}), closed, hub)
    refused = create(server_create(), instance=closed)
    assert not refused and "settings have problems" in refused.rule


def test_a_profiles_shared_volume_may_be_the_admins_own_and_is_read_only_where_the_profile_says():
    shared = Instance(
        "course", OWN_IMAGE, frozenset({USER_IMAGE}), "course-net",
        shared_volumes={"course-material": True, "scratch": False},
    )  # fmt: skip
    made_by_admin = {Target("volume", "course-material"): {}, Target("volume", "scratch"): {}}
    mounts = ["jupyterhub-user-alice:/home/jovyan/work", "course-material:/c:ro", "scratch:/s:rw"]
    assert create(changed(Binds=mounts), made_by_admin, instance=shared)
    writable = create(changed(Binds=["course-material:/c:rw"]), made_by_admin, instance=shared)
    assert not writable and "read-only" in writable.rule
    lab = {Target("volume", "scratch"): {LABEL_INSTANCE: "lab"}}
    assert not create(changed(Binds=["scratch:/s:rw"]), lab, instance=shared)
    assert not create(changed(Binds=["someone-elses:/s"]), {Target("volume", "someone-elses"): {}}, instance=shared)


QUOTAS = Instance("course", OWN_IMAGE, frozenset({USER_IMAGE}), "net", user_storage_dir="/srv/quota-homes")


def storage_helper(capabilities: list[str], binds: list[str], network: str = "none") -> dict:
    body = helper(STORAGE_ENTRYPOINT, network, capabilities)
    body["HostConfig"]["Binds"] = binds
    return body


def test_only_the_storage_helper_holds_sys_admin_with_user_storage_dir_its_one_mount():
    bind = f"/srv/quota-homes:{STORAGE_MOUNT}:rw"
    assert create(storage_helper(STORAGE_CAPABILITIES, [bind]), instance=QUOTAS).rule.startswith(
        "a hardened storage helper of course"
    )
    refused = {
        "networked": storage_helper(STORAGE_CAPABILITIES, [bind], "net"),
        "another folder": storage_helper(STORAGE_CAPABILITIES, [f"/etc:{STORAGE_MOUNT}:rw"]),
        "a volume too": storage_helper(STORAGE_CAPABILITIES, [bind, f"{ALICES_VOLUME}:ro"]),
        "elsewhere": storage_helper(STORAGE_CAPABILITIES, ["/srv/quota-homes:/mnt:rw"]),
        "more capabilities": storage_helper([*STORAGE_CAPABILITIES, "NET_ADMIN"], [bind]),
    }
    for why, body in refused.items():
        assert not create(body, instance=QUOTAS), why
    assert not create(storage_helper(STORAGE_CAPABILITIES, [bind]), instance=COURSE), "no USER_STORAGE_DIR"
    other_program = storage_helper(STORAGE_CAPABILITIES, [bind])
    other_program["Entrypoint"] = ["sh", "-c", "mount /dev/sda1 /mnt"]
    verdict = create(other_program, instance=QUOTAS)
    assert not verdict and "only for the storage helper" in verdict.rule
    assert not create(helper(["sh"], "none", ["SYS_ADMIN"]), instance=QUOTAS)


def test_user_volumes_bind_only_folders_directly_in_user_storage_dir():
    assert volume_create({"type": "none", "o": "bind", "device": "/srv/quota-homes/course-alice"}, instance=QUOTAS)
    for device in ("/srv/quota-homes", "/srv/quota-homes/a/b", "/srv/quota-homes/../etc", "/srv/homes/x"):
        assert not volume_create({"type": "none", "o": "bind", "device": device}, instance=QUOTAS), device


def copy_helper(capabilities: list[str], binds: list[str], network: str = "none") -> dict:
    body = helper(COPY_ENTRYPOINT, network, capabilities)
    body["HostConfig"]["Binds"] = binds
    return body


def test_the_copy_helper_reads_one_volume_and_writes_one_with_owners_and_modes():
    binds = [f"jupyterhub-user-alice:{COPY_SOURCE}:ro", f"jupyterhub-user-alice.before-quotas:{COPY_TARGET}:rw"]
    kept = {Target("volume", "jupyterhub-user-alice.before-quotas"): ALICE}
    assert create(copy_helper(COPY_CAPABILITIES, binds), kept).rule.startswith("a hardened copy helper of course")
    refused = {
        "writes the source": copy_helper(COPY_CAPABILITIES, [binds[0].replace(":ro", ":rw"), binds[1]]),
        "a host folder": copy_helper(COPY_CAPABILITIES, [binds[0], f"/etc:{COPY_TARGET}:rw"]),
        "a third mount": copy_helper(COPY_CAPABILITIES, [*binds, "course-data:/data:ro"]),
        "networked": copy_helper(COPY_CAPABILITIES, binds, "net"),
        "more capabilities": copy_helper([*COPY_CAPABILITIES, "SYS_ADMIN"], binds),
    }
    for why, body in refused.items():
        assert not create(body, kept), why
