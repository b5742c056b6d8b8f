"""apply(settings, c) on a bare traitlets Config, checked against JupyterHub's own classes."""

import pytest
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from jupyterhub.crypto import CryptKeeper
from oauthenticator.github import GitHubOAuthenticator
from traitlets.config import Config

from appliance import __version__
from appliance.auth.password import ApplianceSharedPasswordAuthenticator
from appliance.hub_config import apply
from appliance.settings import load

SECRETS = {
    "JPY_COOKIE_SECRET": "ab" * 32,
    "CONFIGPROXY_AUTH_TOKEN": "p" * 64,
    "JUPYTERHUB_CRYPT_KEY": "cd" * 32,
    "ADMIN_PASSWORD": "x" * 32,
}


# Swarm mode starts only with network isolation off (it cannot be enforced there).
SWARM_MODE = {"SPAWNER_MODE": "swarm", "USER_NETWORK_ISOLATION": "off"}


def configured(**environ):
    c = Config()
    apply(load({**SECRETS, **environ}), c)
    return c


def test_applying_twice_gives_the_same_config():
    settings = load(SECRETS)
    once, twice = Config(), Config()
    apply(settings, once)
    apply(settings, twice)
    apply(settings, twice)
    assert once == twice


def test_proxy_is_supervised_watched_and_servers_survive_hub_restarts():
    c = configured()
    assert c.JupyterHub.proxy_class == "appliance.proxy.SupervisedProxy"
    assert c.JupyterHub.cleanup_proxy is False
    assert c.ConfigurableHTTPProxy.auth_token == SECRETS["CONFIGPROXY_AUTH_TOKEN"]
    assert c.JupyterHub.cleanup_servers is False


def test_secrets_reach_jupyterhub_as_bytes():
    c = configured()
    assert c.JupyterHub.cookie_secret == bytes.fromhex(SECRETS["JPY_COOKIE_SECRET"])
    assert CryptKeeper(config=c).keys == [bytes.fromhex(SECRETS["JUPYTERHUB_CRYPT_KEY"])]


def test_user_containers_join_the_network_and_keep_their_home_in_their_volume():
    c = configured(DOCKER_NETWORK="class-net", USER_VOLUME="class-{username}")
    assert c.DockerSpawner.network_name == "class-net"
    assert c.DockerSpawner.use_internal_ip is True
    assert c.JupyterHub.hub_connect_url == "http://hub:8081"
    assert c.DockerSpawner.volumes == {"class-{username}": "/home/jovyan"}
    assert c.DockerSpawner.notebook_dir == "/home/jovyan/work"
    assert c.DockerSpawner.remove is True
    assert c.DockerSpawner.env_keep == []


def test_spawner_labels_name_the_instance():
    c = configured(APPLIANCE_INSTANCE="physics-101")
    assert c.JupyterHub.spawner_class == "appliance.spawners.ApplianceDockerSpawner"
    assert c.ApplianceDockerSpawner.appliance_instance == "physics-101"


def test_user_containers_are_limited_and_hardened_by_default():
    c = configured()
    assert c.DockerSpawner.mem_limit == "2G"
    assert c.DockerSpawner.cpu_limit == 1.0
    assert c.DockerSpawner.extra_host_config == {
        "auto_remove": False,
        "pids_limit": 512,
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "privileged": False,
    }


def test_read_only_root_keeps_tmp_writable_and_the_home_is_the_volume():
    c = configured(READ_ONLY_ROOTFS="true", MEM_LIMIT="1G", CPU_LIMIT="0.5")
    host_config = c.DockerSpawner.extra_host_config
    assert host_config["read_only"] is True
    assert set(host_config["tmpfs"]) == {"/tmp"}
    assert list(c.DockerSpawner.volumes.values()) == ["/home/jovyan"]


def test_idle_culler_runs_with_the_narrowest_role():
    c = configured(IDLE_TIMEOUT="40", PULL_AHEAD="false")
    [_, culler] = c.JupyterHub.services
    assert culler["command"][-2:] == ["--timeout=40", "--cull-every=10"]
    role = next(role for role in c.JupyterHub.load_roles if role["name"] == "idle-culler")
    assert role["scopes"] == ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    assert c.JupyterHub.last_activity_interval == 10
    assert c.Spawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] == "10"


def test_idle_culling_off_and_metrics_token_on():
    c = configured(IDLE_TIMEOUT="0", METRICS_TOKEN="m" * 40, PULL_AHEAD="false")
    assert [service["name"] for service in c.JupyterHub.services] == ["reconcile", "metrics"]
    assert c.JupyterHub.services[1] == {"name": "metrics", "api_token": "m" * 40}
    assert c.JupyterHub.load_roles[1] == {"name": "metrics", "scopes": ["read:metrics"], "services": ["metrics"]}


def test_reconciler_reads_servers_only_and_removes_only_when_told():
    c = configured(APPLIANCE_INSTANCE="lab", UNKNOWN_CONTAINERS="remove", IDLE_TIMEOUT="0", PULL_AHEAD="false")
    [reconcile] = c.JupyterHub.services
    assert reconcile["command"][-5:] == [
        "--instance=lab",
        "--unknown-containers=remove",
        "--spawner-mode=docker",
        "--every=300",
        "--api-url=http://127.0.0.1:8081/hub/api",
    ]
    [role, _users] = c.JupyterHub.load_roles
    assert role == {"name": "reconcile", "scopes": ["list:users", "read:servers"], "services": ["reconcile"]}
    assert configured().JupyterHub.services[0]["command"][-4] == "--unknown-containers=report"


def test_in_swarm_mode_the_reconciler_may_also_stop_servers_whose_tasks_were_lost_with_their_node():
    c = configured(**SWARM_MODE, IDLE_TIMEOUT="0", PULL_AHEAD="false")
    [role] = [role for role in c.JupyterHub.load_roles if role["name"] == "reconcile"]
    assert role["scopes"] == ["list:users", "read:servers", "delete:servers"]


def test_swarm_mode_places_reserves_and_reaches_tasks_without_virtual_ips():
    c = configured(
        **SWARM_MODE,
        SWARM_PLACEMENT="node.labels.jupyter==true, node.role!=manager",
        MEM_RESERVATION="1G",
        CPU_RESERVATION="0.5",
        VOLUME_DRIVER="local",
        VOLUME_DRIVER_OPTIONS="type=nfs  o=addr=10.0.0.2,rw device=:/homes",
    )
    assert c.JupyterHub.spawner_class == "appliance.spawners.ApplianceSwarmSpawner"
    assert c.SwarmSpawner.extra_placement_spec == {"constraints": ["node.labels.jupyter==true", "node.role!=manager"]}
    assert (c.Spawner.mem_guarantee, c.Spawner.cpu_guarantee) == ("1G", 0.5)
    assert c.SwarmSpawner.volume_driver_options == {"type": "nfs", "o": "addr=10.0.0.2,rw", "device": ":/homes"}
    assert c.SwarmSpawner.extra_endpoint_spec == {"mode": "dnsrr"}
    assert c.ApplianceSwarmSpawner.pids_limit == 512
    assert c.SwarmSpawner.extra_container_spec == {"cap_drop": ["ALL"]}
    assert "--spawner-mode=swarm" in c.JupyterHub.services[0]["command"]


def test_without_profiles_everyone_gets_one_profile_of_the_global_settings():
    (only,) = configured(SINGLEUSER_IMAGE="lab:1").ApplianceDockerSpawner.profiles
    assert (only.name, only.image, only.default, only.groups, only.mem_limit) == ("default", "lab:1", True, (), None)


def test_allowed_images_become_one_profile_each_the_default_image_first():
    c = configured(SINGLEUSER_IMAGE="lab:1", ALLOWED_IMAGES="r:2,lab:1,julia:3")
    profiles = c.ApplianceDockerSpawner.profiles
    assert [(p.name, p.image, p.default) for p in profiles] == [
        ("lab-1", "lab:1", True),
        ("r-2", "r:2", False),
        ("julia-3", "julia:3", False),
    ]


def test_a_new_install_names_containers_and_volumes_with_its_instance_and_an_older_one_keeps_its_names():
    new = configured(APPLIANCE_INSTANCE="course", CONTAINER_NAMES="instance")
    assert new.DockerSpawner.prefix == "jupyter-course"
    assert new.DockerSpawner.volumes == {"course-user-{username}": "/home/jovyan"}
    older = configured(APPLIANCE_INSTANCE="course", CONTAINER_NAMES="legacy")
    assert older.DockerSpawner.prefix == "jupyter"
    assert older.DockerSpawner.volumes == {"jupyterhub-user-{username}": "/home/jovyan"}
    explicit = configured(APPLIANCE_INSTANCE="course", CONTAINER_NAMES="legacy", USER_VOLUME="{instance}-{username}")
    assert explicit.DockerSpawner.volumes == {"course-{username}": "/home/jovyan"}


def test_an_older_install_keeps_its_volumes_at_work_and_the_home_in_a_second_volume():
    older = configured(CONTAINER_NAMES="legacy", USER_VOLUME_HOLDS="work")
    assert older.DockerSpawner.volumes == {
        "jupyterhub-user-{username}.home": "/home/jovyan",
        "jupyterhub-user-{username}": "/home/jovyan/work",
    }
    named = configured(CONTAINER_NAMES="legacy", USER_VOLUME_HOLDS="work", NAMED_SERVERS="2")
    assert named.DockerSpawner.volumes == {
        "jupyterhub-user-{username}{server_suffix}.home": "/home/jovyan",
        "jupyterhub-user-{username}{server_suffix}": "/home/jovyan/work",
    }
    assert older.DockerSpawner.notebook_dir == named.DockerSpawner.notebook_dir == "/home/jovyan/work"


def test_named_servers_get_their_own_volume():
    assert configured().JupyterHub.allow_named_servers is False
    c = configured(NAMED_SERVERS="3")
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.named_server_limit_per_user == 3
    assert c.DockerSpawner.volumes == {"jupyterhub-appliance-user-{username}{server_suffix}": "/home/jovyan"}
    explicit = configured(NAMED_SERVERS="3", USER_VOLUME="v-{username}--{servername}")
    assert explicit.DockerSpawner.volumes == {"v-{username}--{servername}": "/home/jovyan"}


def test_password_mode_is_accepted_by_shared_password_authenticator():
    c = configured(USER_PASSWORD="students-pw", ALLOWED_USERS="ann,bob", ADMIN_USERS="prof")
    authenticator = ApplianceSharedPasswordAuthenticator(config=c)
    assert authenticator.admin_password == SECRETS["ADMIN_PASSWORD"]
    assert authenticator.user_password == "students-pw"
    assert authenticator.admin_users == {"prof"}
    assert authenticator.allowed_users == {"prof", "ann", "bob"}
    # Only the settings admit: a name taken out of ALLOWED_USERS is not let in for being in the database.
    assert authenticator.allow_existing_users is False
    assert (authenticator.name_login_attempts, authenticator.lockout_seconds) == (5, 300)
    assert authenticator.address_login_attempts == 30
    assert c.JupyterHub.authenticator_class == "appliance.auth.password.ApplianceSharedPasswordAuthenticator"


def test_shared_password_authenticator_would_refuse_what_settings_refuse():
    # The 32-character rule in settings mirrors JupyterHub's own.
    with pytest.raises(ValueError, match="at least 32"):
        SharedPasswordAuthenticator(admin_password="x" * 31)


def test_github_mode_derives_the_callback_and_keeps_auth_state():
    c = configured(
        GITHUB_CLIENT_ID="id",
        GITHUB_CLIENT_SECRET="secret",
        PUBLIC_URL="https://hub.example.org/",
        ALLOWED_USERS="octocat",
    )
    authenticator = GitHubOAuthenticator(config=c)
    assert authenticator.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    assert authenticator.enable_auth_state is True
    assert authenticator.allowed_users == {"octocat"}
    assert authenticator.admin_users == set()


def test_system_mode_runs_host_accounts_in_their_homes():
    c = configured(SPAWNER_MODE="system", HOME_FORMAT="/nfs/home/{username}", CREATE_HOMES="true")
    assert c.JupyterHub.spawner_class == "appliance.spawners.ApplianceSystemUserSpawner"
    assert c.DockerSpawner.image == f"ghcr.io/jupyterhub-appliance/jupyterhub-appliance-systemuser:{__version__}"
    assert c.SystemUserSpawner.host_homedir_format_string == "/nfs/home/{username}"
    assert c.ApplianceSystemUserSpawner.create_homes is True
    assert c.ApplianceSystemUserSpawner.host_passwd_file == "/etc/passwd"
    assert "volumes" not in c.DockerSpawner
    assert c.DockerSpawner.extra_host_config["cap_drop"] == ["ALL"]


def test_the_images_users_can_get_are_pulled_ahead_by_a_service_without_api_access():
    c = configured(SINGLEUSER_IMAGE="lab:1", ALLOWED_IMAGES="r:2,lab:1")
    [puller] = [service for service in c.JupyterHub.services if service["name"] == "pull-ahead"]
    assert puller["command"][-3:] == ["pull-ahead", "lab:1", "r:2"]
    assert {"name": "pull-ahead", "scopes": [], "services": ["pull-ahead"]} in c.JupyterHub.load_roles
    assert "pull-ahead" not in [service["name"] for service in configured(PULL_AHEAD="false").JupyterHub.services]


def test_the_services_that_call_docker_get_the_hubs_docker_endpoint():
    endpoint = {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"}
    services = {service["name"]: service for service in configured(**endpoint).JupyterHub.services}
    assert services["reconcile"]["environment"] == services["pull-ahead"]["environment"] == endpoint
    assert "environment" not in services["idle-culler"]
    assert {s["name"]: s["environment"] for s in configured().JupyterHub.services if "environment" in s} == {
        "reconcile": {},
        "pull-ahead": {},
    }


def test_in_swarm_mode_the_images_are_pulled_ahead_on_the_nodes_that_swarm_placement_admits():
    c = configured(
        **SWARM_MODE,
        SINGLEUSER_IMAGE="lab:1",
        SWARM_PLACEMENT="node.labels.jupyter==true",
    )
    [puller] = [service for service in c.JupyterHub.services if service["name"] == "pull-ahead"]
    swarm_options = ["--swarm-instance=jupyterhub-appliance", "--swarm-constraint=node.labels.jupyter==true"]
    assert puller["command"][-4:] == ["pull-ahead", *swarm_options, "lab:1"]
