"""A bad environment stops the hub at once with a message naming the variable, and writes nothing."""

import pytest
from testcontainers.core.container import DockerContainer

from harness.compose import HUB_IMAGE, RUN_ID, TEST_RUN_LABEL
from harness.hub_client import wait_until

# The whole matrix of bad values is in tests/unit/test_settings.py; here, what only a real container shows:
# one environment with several problems, including a file the hub image does not have.
BAD_ENVIRONMENT = {
    "SPAWNER_MODE": "kubernetes",
    "ADMIN_PASSWORD": "tooshort",
    "DOMAIN": "hub.example.org",
    "TLS_CERT": "/etc/ssl/certs/ca-certificates.crt",
    "TLS_KEY": "/tls/key.pem",
    "IDLE_TIMOUT": "0",  # misspelt: a warning, not a problem
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


def test_hub_exits_naming_every_variable_and_leaves_data_untouched(docker_client, data_volume, tmp_path):
    """Also a profiles file with a mistake, in the folder compose mounts it from."""
    (tmp_path / "profiles.yml").write_text("profiles:\n  - name: small\n    mem_limit: lots\n")
    status, message = run_hub_until_exit(
        data_volume, BAD_ENVIRONMENT, extra_mounts=[(str(tmp_path), "/etc/appliance/profiles")]
    )
    assert status == 2
    assert "has 4 problem(s); nothing was started or written" in message
    assert "/etc/appliance/profiles/profiles.yml:3: profile 'small': mem_limit must be a size such as 512M" in message
    assert "SPAWNER_MODE='kubernetes'" in message
    assert "ADMIN_PASSWORD=<redacted, 8 characters>" in message
    assert "TLS_KEY='/tls/key.pem'" in message
    assert "tooshort" not in message
    assert "Warning: IDLE_TIMOUT is not a setting, and is ignored: did you mean IDLE_TIMEOUT?" in message
    assert files_in(docker_client, data_volume) == ""


def test_an_oidc_issuer_that_never_answers_stops_the_hub_naming_it(docker_client, data_volume):
    unreachable = {
        "AUTH_MODE": "oidc",
        "OIDC_ISSUER": "http://127.0.0.1:9",  # the hub container's own loopback, where nothing listens
        "OIDC_CLIENT_ID": "hub",
        "OIDC_CLIENT_SECRET": "oidc-client-secret",
        "PUBLIC_URL": "https://hub.example.org",
        "ALLOW_ALL": "true",
        "OIDC_WAIT_SECONDS": "3",
    }
    status, message = run_hub_until_exit(data_volume, unreachable)
    assert status == 2
    assert "Waiting for OIDC_ISSUER http://127.0.0.1:9: it cannot be reached" in message
    assert "OIDC_ISSUER='http://127.0.0.1:9' cannot be reached" in message and "tried 2 times in 3 s" in message
    assert "oidc-client-secret" not in message
    assert files_in(docker_client, data_volume) == "", "nothing was written before the issuer answered"


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
