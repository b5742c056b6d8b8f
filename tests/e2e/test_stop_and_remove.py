"""The README's "Stopping and removing" recipe leaves nothing of the instance behind but the users' volumes."""

from harness.compose import HUB_IMAGE, INSTANCE_LABEL, PROJECT_LABEL, RUN_ID, TEST_RUN_LABEL, USER_LABEL, record_spawn
from harness.credentials import ADMIN_PASSWORD, USER_PASSWORD
from harness.hub_client import wait_until


def instance_objects(stack) -> dict[str, list[str]]:
    by_instance = {"label": f"{INSTANCE_LABEL}={stack.project}"}
    by_project = {"label": f"{PROJECT_LABEL}={stack.project}"}
    volumes = stack.client.volumes.list(filters=by_instance)
    return {
        "containers": sorted(
            {c.name for f in (by_instance, by_project) for c in stack.client.containers.list(all=True, filters=f)}
        ),
        "networks": sorted(n.name for n in stack.client.networks.list(names=[stack.network])),
        "volumes of": sorted(v.attrs["Labels"].get(USER_LABEL, "") for v in volumes),
    }


def test_stop_servers_then_down_leaves_only_the_users_volumes(stack_factory):
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "dana,erin"}
    stack = stack_factory({**env, "IDLE_TIMOUT": "0"})  # misspelt, in the env file compose reads as .env
    warning = "Warning: IDLE_TIMOUT is not a setting, and is ignored: did you mean IDLE_TIMEOUT?"
    assert warning in stack.logs()
    for name in ("dana", "erin"):
        record_spawn(stack.client_for().login(name, USER_PASSWORD).start_server())
    assert len(stack.user_containers()) == 2

    stopped = stack.compose_result("exec", "-T", "hub", "appliance", "stop-servers")
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopping dana's server (default)" in stopped.stderr and "Stopped 2 user server(s)" in stopped.stderr
    stack.run_compose("down")

    left = instance_objects(stack)
    assert left["containers"] == [] and left["networks"] == [], left
    assert left["volumes of"] == ["dana", "erin"], "only the users' volumes, which hold their files"
    assert stack.client.volumes.get(f"{stack.project}_hub-data"), "down without -v keeps the hub's data"


# Run in a one-off hub container, with the hub stopped: the database as a restore from elsewhere (or an edit)
# could leave it, with the saved state of every server naming another container.
POINT_STATE_AT = """
import sqlite3, sys
db = sqlite3.connect("/data/jupyterhub.sqlite")
db.execute("UPDATE spawners SET state = json_set(state, '$.object_name', ?, '$.object_id', ?)", sys.argv[1:3])
db.commit()
print(db.total_changes)
"""


def test_a_restored_database_cannot_make_the_hub_stop_or_remove_another_container(stack_factory, docker_client):
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "USER_PASSWORD": USER_PASSWORD, "ALLOWED_USERS": "dana"}
    stack = stack_factory(env)
    dana = stack.client_for().login("dana", USER_PASSWORD)
    record_spawn(dana.start_server())
    victim = docker_client.containers.run(
        HUB_IMAGE,
        ["600"],
        entrypoint=["sleep"],
        name=f"e2e-victim-{RUN_ID}",
        labels={TEST_RUN_LABEL: RUN_ID},
        detach=True,
    )
    try:
        stack.run_compose("stop", "hub")
        edited = stack.compose_result(
            "run", "--rm", "-T", "--entrypoint", "python3", "hub", "-c", POINT_STATE_AT, victim.name, victim.id
        )
        assert edited.returncode == 0 and edited.stdout.strip() == "1", edited.stderr
        stack.run_compose("up", "-d", "hub")
        stack.wait_healthy()
        # The hub polls dana's server through the saved state at start: the container it names is not hers, so
        # the server counts as stopped and that container is never used. Stopping the server touches nothing.
        assert f"Refused to use the container {victim.name}" in stack.logs()
        assert "it does not carry this appliance's labels for user 'dana', server ''" in stack.logs()
        dana.api("DELETE", "/users/dana/server")
        wait_until(lambda: dana.server_model() is None, "dana's server to count as stopped")
        victim.reload()
        assert victim.status == "running"
    finally:
        victim.remove(force=True, v=True)  # and the anonymous volume of the image's /data
