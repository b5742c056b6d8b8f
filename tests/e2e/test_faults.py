"""The bad day, caused for real: killed processes, removed containers, restarts of the hub, the stack and dockerd.

Each test records how long recovery took and what the user saw in test-artifacts/fault-recovery.md.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.compose import ARTIFACTS, INSTANCE_LABEL, ROOT, SINGLEUSER_IMAGE, USER_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import HubClient, wait_until
from tests.e2e.network_probe import OUTSIDE, kernel_of, reaches

NOTEBOOK = "faults.ipynb"
# The bound docs/operations.md states for the proxy: supervisord restarts it at once and the hub checks every second.
ROUTES_RESTORED_WITHIN_SECONDS = 10
DOCKERD_PID_FILE = Path("/run/appliance-dockerd.pid")

# Inside the hub container: prints the pid of each process whose first two arguments contain the
# pattern (argv[1]), and kills it with SIGKILL when argv[2] is "kill".
PROCESSES_BY_COMMAND = """
import os, signal, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if sys.argv[1].encode() in b" ".join(argv[:2]):
        if sys.argv[2] == "kill":
            os.kill(int(pid), signal.SIGKILL)
        print(pid)
"""

RECONCILE_PASS = "[appliance reconcile] Checked"
RECOVERIES: list[tuple[str, str, str, str]] = []


def record_recovery(fault: str, seconds: float | str, seen: str, lost: str = "nothing") -> None:
    shown = f"{seconds:.1f} s" if isinstance(seconds, float) else seconds
    RECOVERIES.append((fault, shown, seen, lost))


@pytest.fixture(scope="module", autouse=True)
def recovery_table():
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    rows = ["| fault | recovered in | what the user saw | lost |", "|---|---|---|---|"]
    rows += [f"| {' | '.join(row)} |" for row in RECOVERIES]
    (ARTIFACTS / "fault-recovery.md").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def stack(stack_factory):
    return stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "dana"})


@pytest.fixture(scope="module")
def admin(stack) -> HubClient:
    return stack.client_for().login("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def dana(stack) -> HubClient:
    return stack.client_for().login("dana", USER_PASSWORD)


def kill_in_hub(stack, pattern: str) -> int:
    killed = stack.run_compose("exec", "-T", "hub", "python3", "-c", PROCESSES_BY_COMMAND, pattern, "kill").split()
    assert len(killed) == 1, f"expected one process matching {pattern!r}, killed {killed}"
    return int(killed[0])


def pid_in_hub(stack, pattern: str) -> int | None:
    found = stack.compose_result("exec", "-T", "hub", "python3", "-c", PROCESSES_BY_COMMAND, pattern, "find")
    found = found.stdout.split()
    return int(found[0]) if len(found) == 1 else None


def answers(client: HubClient) -> bool:
    try:
        return client.session.get(f"{client.base_url}/hub/health", timeout=2).ok
    except OSError:
        return False


def lab_answers(client: HubClient) -> bool:
    try:
        return client.server_api("GET", "/status").status_code == 200
    except OSError:
        return False


def test_killed_hub_process_is_restarted_and_the_open_kernel_session_carries_on(stack, admin):
    record_spawn(admin.ensure_running())
    admin.create_notebook(NOTEBOOK)
    kernel = admin.start_kernel(NOTEBOOK)
    kernel.run("counter = 41")
    container = stack.user_containers("admin")[0].id
    proxy = pid_in_hub(stack, "configurable-http-proxy")

    killed_at = time.monotonic()
    killed = kill_in_hub(stack, "bin/jupyterhub")
    # While the hub is down, the proxy keeps routing: the open websocket still reaches the kernel.
    assert kernel.run("counter += 1; print(counter)") == "42"
    wait_until(lambda: pid_in_hub(stack, "bin/jupyterhub") not in (None, killed), "supervisord to restart the hub")
    wait_until(lambda: answers(admin), "the restarted hub to answer", every=0.1)
    recovered = time.monotonic() - killed_at

    assert admin.whoami() == "admin", "the user stays logged in"
    assert admin.server_model()["ready"] is True
    assert stack.user_containers("admin")[0].id == container
    assert pid_in_hub(stack, "configurable-http-proxy") == proxy, "the proxy kept running"
    assert kernel.run("print(counter)") == "42"
    sessions = admin.server_api("GET", "/sessions").json()
    assert [s["kernel"]["id"] for s in sessions if s["path"] == NOTEBOOK] == [kernel.id]
    kernel.close()
    record_recovery("`kill -9` of the hub process", recovered, "nothing: the open notebook kept running")


def test_killed_proxy_is_restarted_and_the_hub_restores_every_route(stack, admin, dana):
    record_spawn(admin.ensure_running())
    record_spawn(dana.ensure_running())
    kernel = admin.start_kernel(NOTEBOOK)
    kernel.run("kept = 'across the proxy restart'")

    killed_at = time.monotonic()
    killed = kill_in_hub(stack, "configurable-http-proxy")
    wait_until(lambda: pid_in_hub(stack, "configurable-http-proxy") not in (None, killed), "a new proxy")
    wait_until(lambda: lab_answers(admin) and lab_answers(dana), "both users' routes", every=0.1)
    recovered = time.monotonic() - killed_at

    assert recovered <= ROUTES_RESTORED_WITHIN_SECONDS, f"routes came back after {recovered:.1f} s"
    assert "The proxy has lost its routes" in stack.logs()
    assert admin.whoami() == "admin" and dana.whoami() == "dana"
    kernel.close()  # its websocket went down with the proxy; JupyterLab reconnects like this
    reconnected = admin.connect_kernel(kernel.id)
    assert reconnected.run("print(kept)") == "across the proxy restart"
    reconnected.close()
    record_recovery(
        "`kill -9` of the proxy", recovered, "open websockets dropped; JupyterLab reconnected to the same kernel"
    )


def test_a_server_container_removed_behind_the_hubs_back_is_started_again_by_its_user(stack, dana):
    record_spawn(dana.ensure_running())
    dana.put_file("survives.txt", "in the volume")
    [container] = stack.user_containers("dana")

    container.remove(force=True)
    removed_at = time.monotonic()
    spawn = dana.start_server()
    assert dana.open_lab().status_code == 200
    recovered = time.monotonic() - removed_at

    record_spawn(spawn)
    assert dana.read_file("survives.txt") == "in the volume"
    assert [c.id for c in stack.user_containers("dana")] != [container.id]
    record_recovery(
        "`docker rm -f` of a user's container",
        recovered,
        "the server had stopped; Start brought it back with the same files",
        "the kernels' memory",
    )


def test_an_unknown_labelled_container_is_reported_at_hub_start_and_removed_only_when_told(stack, docker_client):
    stray = docker_client.containers.run(
        SINGLEUSER_IMAGE,
        ["sleep", "600"],
        entrypoint=[],
        name=f"{stack.project}-stray",
        labels={INSTANCE_LABEL: stack.project, USER_LABEL: "ghost", "jupyterhub-appliance.server": ""},
        detach=True,
    )
    passes_before = stack.logs().count(RECONCILE_PASS)
    stack.run_compose("restart", "hub")
    stack.wait_healthy()

    wait_until(lambda: stack.logs().count(RECONCILE_PASS) > passes_before, "a reconcile pass at hub start")
    logs = stack.logs()
    assert f"Container {stray.name} (user 'ghost', server '', running) carries this appliance's labels" in logs
    assert "UNKNOWN_CONTAINERS=remove" in logs
    stray.reload()
    assert stray.status == "running", "reported, not removed"

    stack.change_env(UNKNOWN_CONTAINERS="remove")
    stack.run_compose("up", "-d", "hub")  # recreates the hub with the new setting; its log starts afresh
    stack.wait_healthy()
    removal = f"Removed container {stray.name} (user 'ghost', server '', running)"
    wait_until(lambda: removal in stack.logs(), "the reconcile pass of the recreated hub to remove it")
    assert stray.name not in [c.name for c in stack.user_containers()]
    assert stack.volume_name("admin") in [v.name for v in stack.user_volumes()], "volumes are never removed"


def test_stopping_and_starting_the_whole_stack_keeps_users_tokens_servers_and_files(stack, admin):
    record_spawn(admin.ensure_running())
    admin.put_file("stack-restart.txt", "kept")
    token = admin.api("POST", "/users/admin/tokens", json={"note": "faults test"}).json()["token"]
    container = stack.user_containers("admin")[0].id

    stack.run_compose("stop")
    stopped_at = time.monotonic()
    stack.run_compose("start")
    stack.wait_healthy()
    recovered = time.monotonic() - stopped_at

    assert admin.whoami() == "admin", "the browser session survives"
    token_user = admin.session.get(f"{stack.url}/hub/api/user", headers={"Authorization": f"token {token}"}).json()
    assert token_user["name"] == "admin"
    assert stack.user_containers("admin")[0].id == container, "the running server was kept"
    assert admin.read_file("stack-restart.txt") == "kept"
    record_recovery("`docker compose stop` then `start`", recovered, "the hub page was down; the server kept running")


def dockerd_started_by_our_script() -> int | None:
    """The pid of a dockerd that scripts/ensure-docker.sh started here; None when the system runs it."""
    try:
        pid = int(DOCKERD_PID_FILE.read_text())
        return pid if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"dockerd") else None
    except (OSError, ValueError):
        return None


def test_a_dockerd_restart_brings_the_hub_back_and_users_start_their_servers_again(
    stack, admin, docker_client, canaries
):
    pid = dockerd_started_by_our_script()
    if pid is None:
        pytest.skip("dockerd is run by the system here, not by scripts/ensure-docker.sh; not restarting it")
    record_spawn(admin.ensure_running())
    admin.put_file("dockerd-restart.txt", "on the volume")

    os.kill(pid, signal.SIGTERM)
    stopped_at = time.monotonic()
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), "dockerd to stop", seconds=60)
    subprocess.run([ROOT / "scripts" / "ensure-docker.sh"], check=True, capture_output=True)
    stack.wait_healthy()
    recovered = time.monotonic() - stopped_at

    assert admin.whoami() == "admin"
    wait_until(lambda: admin.server_model() is None, "the hub to see that the server stopped with dockerd")
    assert stack.user_containers("admin") == [], "the stopped container was removed"
    assert "The container of admin stopped by itself" in stack.logs()
    record_spawn(admin.ensure_running())
    assert admin.read_file("dockerd-restart.txt") == "on the volume"
    # The network rules hold for the new server (the metadata canary is open with isolation off, see
    # test_network_policies.py).
    got = reaches(kernel_of(admin, "after-dockerd.ipynb"), {"metadata": OUTSIDE["metadata"], "hub API": ("hub", 8081)})
    assert got == {"metadata": "Connection refused", "hub API": "open"}
    record_recovery(
        "dockerd restart (as on a host reboot)",
        recovered,
        "the hub came back by its restart policy; servers had stopped and users started them again",
        "the kernels' memory",
    )
