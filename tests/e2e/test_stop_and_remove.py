"""The README's "Stopping and removing" recipe leaves nothing of the instance behind but the users' volumes."""

from tests.e2e.stack import INSTANCE_LABEL, PROJECT_LABEL, USER_LABEL, record_spawn

ADMIN_PASSWORD = "stop-remove-admin-password-0123456789ab"
USER_PASSWORD = "stop-remove-students-password"


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
