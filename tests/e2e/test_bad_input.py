"""A bad environment stops the hub at once with a message naming the variable, and writes nothing."""

import pytest
from testcontainers.core.container import DockerContainer

from tests.certificates import CertificateAuthority, write_private_key
from tests.e2e.hub_client import wait_until
from tests.e2e.stack import HUB_IMAGE, RUN_ID, TEST_RUN_LABEL

BAD_ENVIRONMENTS = {
    "unknown mode": ({"SPAWNER_MODE": "kubernetes"}, "SPAWNER_MODE"),
    "swarm setting in docker mode": ({"SWARM_PLACEMENT": "node.role==worker"}, "SWARM_PLACEMENT"),
    "non-numeric limit": ({"CPU_LIMIT": "lots"}, "CPU_LIMIT"),
    "malformed memory limit": ({"MEM_LIMIT": "2 gigs"}, "MEM_LIMIT"),
    "malformed URL": ({"PUBLIC_URL": "hub.example.org"}, "PUBLIC_URL"),
    "github without credentials": ({"AUTH_MODE": "github"}, "GITHUB_CLIENT_ID"),
    "github without an allow rule": (
        {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "secret", "PUBLIC_URL": "https://hub.example.org"},
        "ALLOWED_USERS",
    ),
    "short admin password": ({"ADMIN_PASSWORD": "tooshort"}, "ADMIN_PASSWORD"),
    "unknown auth mode": ({"AUTH_MODE": "ldap"}, "AUTH_MODE"),
    "bad volume template": ({"USER_VOLUME": "home-{user}"}, "USER_VOLUME"),
    "relative data dir": ({"DATA_DIR": "data"}, "DATA_DIR"),
    "port out of range": ({"HUB_PORT": "99999"}, "HUB_PORT"),
    "invalid domain": ({"DOMAIN": "hub_example.org"}, "DOMAIN"),
    "missing TLS key file": (
        {"DOMAIN": "hub.example.org", "TLS_CERT": "/etc/ssl/certs/ca-certificates.crt", "TLS_KEY": "/tls/key.pem"},
        "TLS_KEY",
    ),
}
EXIT_SECONDS = 30


@pytest.fixture
def data_volume(docker_client):
    volume = docker_client.volumes.create(labels={TEST_RUN_LABEL: RUN_ID})
    yield volume
    volume.remove(force=True)


def files_in(docker_client, volume) -> str:
    return docker_client.containers.run(
        HUB_IMAGE,
        entrypoint=["find", "/data", "-mindepth", "1"],
        volumes={volume.name: {"bind": "/data", "mode": "ro"}},
        labels={TEST_RUN_LABEL: RUN_ID},
        remove=True,
    ).decode()


def run_hub_until_exit(data_volume, environ, extra_mounts=(), data_mode="rw", **run_options) -> tuple[int, str]:
    """Run the hub image with its data on data_volume, or on a small tmpfs when None; return exit code and stderr."""
    hub = DockerContainer(HUB_IMAGE)
    if data_volume is None:
        hub.with_tmpfs_mount("/data", "size=4m")
    else:
        hub.with_volume_mapping(data_volume.name, "/data", data_mode)
    for host_path, inside in extra_mounts:
        hub.with_volume_mapping(host_path, inside, "ro")
    hub.with_kwargs(labels={TEST_RUN_LABEL: RUN_ID}, **run_options)
    for key, value in environ.items():
        hub.with_env(key, value)
    with hub:
        outcome = hub.get_wrapped_container().wait(timeout=EXIT_SECONDS)
        stdout, stderr = hub.get_logs()
    assert "Traceback" not in (stdout + stderr).decode()
    return outcome["StatusCode"], stderr.decode()


@pytest.mark.parametrize(("environ", "variable"), BAD_ENVIRONMENTS.values(), ids=BAD_ENVIRONMENTS.keys())
def test_hub_exits_naming_the_variable_and_leaves_data_untouched(docker_client, data_volume, environ, variable):
    status, message = run_hub_until_exit(data_volume, environ)
    assert status == 2
    assert f"{variable}=" in message
    assert "nothing was started or written" in message
    assert files_in(docker_client, data_volume) == ""


def test_a_certificate_with_a_foreign_key_stops_the_hub(docker_client, data_volume, tmp_path):
    tmp_path.chmod(0o755)
    CertificateAuthority.create("bad-input CA").issue(tmp_path, "cert", ["hub.example.org"])
    write_private_key(tmp_path / "foreign-key.pem")
    environ = {"DOMAIN": "hub.example.org", "TLS_CERT": "/tls/cert.pem", "TLS_KEY": "/tls/foreign-key.pem"}
    status, message = run_hub_until_exit(data_volume, environ, extra_mounts=[(str(tmp_path), "/tls")])
    assert status == 2
    assert "TLS_KEY='/tls/foreign-key.pem': does not belong to the certificate in /tls/cert.pem" in message
    assert files_in(docker_client, data_volume) == ""


def test_compose_hub_with_bad_settings_stops_instead_of_restarting(stack_factory):
    stack = stack_factory({"SPAWNER_MODE": "kubernetes", "ADMIN_PASSWORD": "short"}, healthy=False)

    def exited():
        hub = stack.hub_container()
        return hub if hub.status == "exited" else None

    hub = wait_until(exited, "the hub with bad settings to exit", seconds=EXIT_SECONDS)
    assert hub.attrs["State"]["ExitCode"] == 2
    assert hub.attrs["RestartCount"] == 0
    assert hub.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    logs = stack.logs()
    assert "SPAWNER_MODE='kubernetes'" in logs
    assert "ADMIN_PASSWORD=<redacted, 5 characters>" in logs
    assert "will not restart by itself" in logs
    assert stack.run_compose("run", "--rm", "--no-deps", "--entrypoint", "ls", "hub", "-A", "/data").strip() == ""


def test_a_read_only_data_dir_stops_the_hub_with_the_fix(data_volume):
    status, message = run_hub_until_exit(data_volume, {}, data_mode="ro")
    assert status == 2
    assert "DATA_DIR=/data is mounted read-only. Mount it read-write (remove `:ro` from the volume)" in message


def test_a_full_data_dir_stops_the_hub_with_the_fix():
    fill_then_run = "dd if=/dev/zero of=/data/filler bs=64k 2>/dev/null; exec appliance run"
    status, message = run_hub_until_exit(None, {}, entrypoint=["sh", "-c", fill_then_run])
    assert status == 2
    assert "DATA_DIR=/data is full. Free some space on that volume" in message


def test_secrets_owned_by_someone_else_stop_the_hub_and_stay_as_they_were(docker_client, data_volume):
    plant = "mkdir -p /data/secrets && printf %064d 7 >/data/secrets/cookie_secret && chown -R 1000:1000 /data/secrets"
    docker_client.containers.run(
        HUB_IMAGE,
        entrypoint=["sh", "-c", plant],
        volumes={data_volume.name: {"bind": "/data", "mode": "rw"}},
        labels={TEST_RUN_LABEL: RUN_ID},
        remove=True,
    )
    status, message = run_hub_until_exit(data_volume, {})
    assert status == 2
    assert "DATA_DIR=/data: /data/secrets belongs to uid 1000, not to the hub (uid 0)" in message
    assert "docker compose run --rm --entrypoint chown hub -R 0:0 /data" in message
    assert files_in(docker_client, data_volume).split() == ["/data/secrets", "/data/secrets/cookie_secret"]
