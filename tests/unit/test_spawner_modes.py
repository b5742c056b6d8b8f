"""Spawner modes as objects: each mode's declaration drives the SPAWNER_MODE choice, its settings' docs group and
"only in this mode" problems, the default image, its part of the hub's config and its doctor check."""

from pathlib import Path

import pytest
from traitlets.config import Config

from appliance.concerns import concerns_for
from appliance.doctor import diagnose
from appliance.hub_config import apply
from appliance.servers import SPAWNER_MODES, system
from appliance.settings import BY_NAME, SettingsError, load

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}
SYSTEM = {"SPAWNER_MODE": "system", "AUTH_MODE": "native"}
SWARM = {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"}


def problems_of(environ) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load(environ)
    return {problem.name: str(problem) for problem in caught.value.problems}


def test_the_spawner_mode_choice_is_the_registry():
    assert BY_NAME["SPAWNER_MODE"].kind.values == tuple(SPAWNER_MODES) == ("docker", "system", "swarm")


@pytest.mark.parametrize(
    ("environ", "name", "mode"),
    [
        ({"HOME_FORMAT": "/srv/homes/{username}"}, "HOME_FORMAT", "system"),
        ({"SYSTEM_MIN_UID": "2000"}, "SYSTEM_MIN_UID", "system"),
        ({**SYSTEM, "SWARM_OVERLAY": "plain"}, "SWARM_OVERLAY", "swarm"),
        ({**SWARM, "CREATE_HOMES": "true"}, "CREATE_HOMES", "system"),
    ],
)
def test_a_modes_setting_chosen_in_another_mode_is_a_problem(environ, name, mode):
    assert problems_of(environ)[name].startswith(f"{name}=(set): only applies when SPAWNER_MODE={mode}")


def test_a_modes_setting_at_its_default_elsewhere_is_no_problem():
    assert load({"HOST_PASSWD_FILE": "/etc/passwd", "SWARM_OVERLAY": "encrypted"})["SPAWNER_MODE"] == "docker"


def test_each_modes_settings_are_documented_under_its_title():
    assert {BY_NAME[name].group for name in ("HOME_FORMAT", "HOST_GROUP_FILE")} == {"System users"}
    assert {BY_NAME[name].group for name in ("SWARM_HOMES", "MEM_RESERVATION")} == {"Swarm"}


def test_the_default_image_is_the_modes():
    assert load(SYSTEM)["SINGLEUSER_IMAGE"].split("/")[-1].startswith("jupyterhub-appliance-systemuser:")
    assert load(SWARM)["SINGLEUSER_IMAGE"].split("/")[-1].startswith("jupyterhub-appliance-singleuser:")


@pytest.mark.parametrize(
    ("environ", "spawner"),
    [({}, "ApplianceDockerSpawner"), (SYSTEM, "ApplianceSystemUserSpawner"), (SWARM, "ApplianceSwarmSpawner")],
)
def test_apply_configures_the_modes_spawner_hardened(environ, spawner):
    c = Config()
    apply(load({**SECRETS, **environ}), c)
    assert c.JupyterHub.spawner_class == f"appliance.spawners.{spawner}"
    host_config = c.DockerSpawner.extra_host_config
    assert (host_config["cap_drop"], host_config["security_opt"], host_config["privileged"]) == (
        ["ALL"],
        ["no-new-privileges"],
        False,
    )


def test_under_a_read_only_root_only_tmp_is_in_memory_as_every_mode_keeps_the_home_on_disk():
    docker, system_config = Config(), Config()
    apply(load({**SECRETS, "READ_ONLY_ROOTFS": "true"}), docker)
    apply(load({**SECRETS, **SYSTEM, "READ_ONLY_ROOTFS": "true"}), system_config)
    assert set(docker.DockerSpawner.extra_host_config["tmpfs"]) == {"/tmp"}
    assert set(system_config.DockerSpawner.extra_host_config["tmpfs"]) == {"/tmp"}


def test_users_volumes_are_archived_or_removed_on_deletion_in_docker_mode_only():
    assert load({**SECRETS, "DELETED_USER_DATA": "archive"})["DELETED_USER_DATA"] == "archive"
    for mode in (SWARM, SYSTEM):
        found = problems_of({**mode, "DELETED_USER_DATA": "remove"})
        assert "works in docker mode only" in found["DELETED_USER_DATA"]


def test_swarm_modes_problems_are_its_own():
    found = problems_of({**SWARM, "USER_NETWORK_ISOLATION": "on", "READ_ONLY_ROOTFS": "true"})
    assert "cannot be enforced in swarm mode" in found["USER_NETWORK_ISOLATION"]
    assert "is not available in swarm mode" in found["READ_ONLY_ROOTFS"]


def test_in_swarm_mode_the_instance_must_make_valid_service_names_unless_the_install_keeps_old_names():
    underscored = {**SWARM, "USER_NETWORK_ISOLATION": "off", "APPLIANCE_INSTANCE": "my_lab"}
    problem = problems_of(underscored)["APPLIANCE_INSTANCE"]
    assert "APPLIANCE_INSTANCE='my_lab'" in problem and "only letters, digits and '-'" in problem
    assert load({**underscored, "CONTAINER_NAMES": "legacy"})["APPLIANCE_INSTANCE"] == "my_lab"


def test_the_doctor_adds_the_modes_own_check_where_it_has_one():
    names = {mode: [concern.name for concern in concerns_for(load({**SECRETS, "SPAWNER_MODE": mode, **extra}))]
             for mode, extra in (("docker", {}), ("system", SYSTEM), ("swarm", SWARM))}  # fmt: skip
    assert "docker mode" not in names["docker"]
    assert names["system"][-1] == "system mode" and names["swarm"][-1] == "swarm mode"


@pytest.fixture
def host_files(tmp_path: Path, monkeypatch):
    passwd, group = tmp_path / "passwd", tmp_path / "group"
    passwd.write_text("root:x:0:0::/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\n")
    group.write_text("root:x:0:\nalice:x:1001:\nstudents:x:2000:alice\n")
    monkeypatch.setattr(system, "HOST_PASSWD_IN_HUB", str(passwd))
    monkeypatch.setattr(system, "HOST_GROUP_IN_HUB", str(group))
    return passwd, group


def test_system_modes_check_counts_the_accounts_that_may_have_servers(host_files):
    outcome = system.diagnose(load({**SYSTEM, "SYSTEM_USERS_GROUP": "students"}))
    assert (outcome.label, outcome.detail) == (
        "PASS",
        "1 host account(s) from uid 1000 may have servers, members of students only",
    )


def test_system_modes_check_names_what_is_missing(host_files):
    passwd, _ = host_files
    assert "no group of the host" in system.diagnose(load({**SYSTEM, "SYSTEM_USERS_GROUP": "staff"})).detail
    assert "SYSTEM_MIN_UID=5000" in system.diagnose(load({**SYSTEM, "SYSTEM_MIN_UID": "5000"})).detail
    passwd.unlink()
    missing = system.diagnose(load(SYSTEM))
    assert missing.label == "FAIL" and "compose/systemuser.yml" in missing.fix


def test_the_system_check_runs_in_the_doctor_after_the_engine_check(host_files):
    results = diagnose({**SECRETS, **SYSTEM, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert (results[-1].name, results[-1].skipped_because) == ("system mode", "needs docker socket")
