"""The appliance on this host's single-node swarm, deployed with `docker stack deploy` as docs/swarm.md says."""

import os
import shlex
import subprocess
from pathlib import Path

import docker.errors
import pytest

from harness.compose import (
    E2E_PREFIX,
    INSTANCE_LABEL,
    ROOT,
    RUN_ID,
    STACK_LABEL,
    USER_LABEL,
    env_lines,
    free_port,
    leftovers_of,
    recording_overlay,
    server_name,
    volume_name,
)
from harness.hub_client import HubClient, swarm_hub_answers, wait_until


def docker_cli(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(["docker", *args], cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def documented_deploy(stack_name: str) -> list[str]:
    """The `docker stack deploy` line of docs/swarm.md's recipe, for another stack name."""
    page = (ROOT / "docs" / "swarm.md").read_text()
    (line,) = [line for line in page.splitlines() if line.startswith("docker stack deploy ")]
    command = shlex.split(line, comments=True)
    assert command[:3] == ["docker", "stack", "deploy"], line
    return [*command[:-1], stack_name]


class SwarmStack:
    """The appliance deployed on this host's swarm as docs/swarm.md says, under a name of this run."""

    def __init__(
        self,
        client,
        tmp_dir: Path,
        settings: dict[str, str],
        profiles: str,
        overlays: tuple[str, ...] = (),
        name: str = "swarm",
    ):
        """`overlays`: compose files deployed after docs/swarm.md's (compose/swarm-homes.yml, say); `name`: the
        stack's, after the run's prefix."""
        self.client = client
        self.overlays = overlays
        self.name = f"{E2E_PREFIX}{RUN_ID}-{name}"
        self.url = f"http://127.0.0.1:{free_port()}"
        env_file = tmp_dir / "swarm.env"
        # Swarm servers cannot be firewalled by the appliance; the admin says so explicitly.
        env_file.write_text(env_lines({"USER_NETWORK_ISOLATION": "off", **settings}))
        (tmp_dir / "profiles.yml").write_text(profiles)
        self.env = {
            **os.environ,
            "PROFILES_DIR": str(tmp_dir),
            "APPLIANCE_ENV_FILE": str(env_file),
            "APPLIANCE_INSTANCE": self.name,
            "DOCKER_NETWORK": self.name,
            "HUB_PORT": self.url.rsplit(":", 1)[1],
            # compose/swarm-homes.yml reads it from the deploy's environment.
            **({"SWARM_HOMES": settings["SWARM_HOMES"]} if "SWARM_HOMES" in settings else {}),
        }

    def deploy(self) -> "SwarmStack":
        command = documented_deploy(self.name)[1:]
        overlays = [arg for overlay in (*self.overlays, *recording_overlay()) for arg in ("-c", overlay)]
        docker_cli(*command[:-1], *overlays, command[-1], env=self.env)
        wait_until(self.answers, f"the swarm hub of {self.name} to answer", seconds=120)
        return self

    def deploy_refused(self, saying: str, seconds: int = 120) -> str:
        """Deploy a hub that refuses its settings at start; its logs once they say `saying` (Swarm keeps retrying)."""
        command = documented_deploy(self.name)[1:]
        overlays = [arg for overlay in self.overlays for arg in ("-c", overlay)]
        docker_cli(*command[:-1], *overlays, command[-1], env=self.env)

        def said() -> str:
            logs = self.logs()
            return logs if saying in logs else ""

        return wait_until(said, f"the hub of {self.name} to refuse, saying {saying!r}", seconds)

    def hub_exec(self, *command: str) -> tuple[int, str]:
        """Run a command in the running hub task's container: its exit code and output."""
        label = f"com.docker.swarm.service.name={self.name}_hub"
        [hub] = self.client.containers.list(filters={"label": label, "status": "running"})
        result = hub.exec_run(list(command))
        return result.exit_code, result.output.decode(errors="replace")

    def answers(self) -> bool:
        tasks = docker_cli("stack", "ps", self.name, "--format", "{{.CurrentState}} {{.Error}}")
        if "Failed" in tasks or "Rejected" in tasks:
            pytest.fail(f"the hub task failed: {tasks}\n{self.logs()}")
        return swarm_hub_answers(self.url)

    def logs(self) -> str:
        """The logs of every hub task's container, oldest first (`docker service logs` can hang on restarts)."""
        label = f"com.docker.swarm.service.name={self.name}_hub"
        tasks = self.client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
        tasks.sort(key=lambda container: container.attrs["Created"])
        return "".join(logs_unless_removed(container) for container in tasks)

    def client_for(self) -> HubClient:
        return HubClient(self.url)

    def user_servers(self, username: str | None = None) -> list:
        return self.user_services(username)

    def user_services(self, username: str | None = None):
        labels = [f"{INSTANCE_LABEL}={self.name}"] + ([f"{USER_LABEL}={username}"] if username else [])
        return self.client.services.list(filters={"label": labels})

    def user_volumes(self):
        return self.client.volumes.list(filters={"label": f"{INSTANCE_LABEL}={self.name}"})

    def server_name(self, username: str, server: str = "") -> str:
        return server_name(self.name, username, server)

    def volume_name(self, username: str, server: str = "") -> str:
        return volume_name(self.name, username, server)

    def down(self) -> None:
        """Remove user services, the stack, then (once its containers are gone) every volume."""
        for service in self.user_services():
            service.remove()
        subprocess.run(["docker", "stack", "rm", self.name], capture_output=True, check=False)

        def gone() -> bool:
            containers = self.client.containers.list(
                all=True, filters={"label": f"{INSTANCE_LABEL}={self.name}"}, ignore_removed=True
            )
            stack = self.client.containers.list(
                all=True, filters={"label": f"com.docker.stack.namespace={self.name}"}, ignore_removed=True
            )
            return not containers and not stack and not self.client.networks.list(names=[self.name])

        wait_until(gone, f"the containers and network of {self.name} to go", seconds=90)
        stack_volumes = self.client.volumes.list(filters={"label": f"{STACK_LABEL}={self.name}"})
        for volume in [*self.user_volumes(), *stack_volumes]:
            volume.remove(force=True)
        leftovers = leftovers_of(self.client, self.name)
        assert not leftovers, f"{self.name} left these behind: {leftovers}"


def logs_unless_removed(container) -> str:
    """A hub task's log; empty when Swarm removed its container meanwhile (a restart replaces it)."""
    try:
        return container.logs().decode(errors="replace")
    except docker.errors.NotFound:
        return ""
