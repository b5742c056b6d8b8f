"""The fake GitHub as a container: on the appliance network for the hub, published on loopback for tests."""

from pathlib import Path

import requests
from testcontainers.core.container import DockerContainer

from harness.hub_client import wait_until

SERVER_DIR = Path(__file__).resolve().parent


class FakeGitHubContainer:
    """Runs server.py in the hub image (it has python3) under a name the hub resolves on its network."""

    def __init__(self, image: str, name: str, port: int, network: str, labels: dict[str, str]):
        self.name = name
        self.port = port
        self.hub_url = f"http://{name}:{port}"
        self.local_url = f"http://127.0.0.1:{port}"
        self.container = (
            DockerContainer(image)
            .with_volume_mapping(str(SERVER_DIR), "/fake", "ro")
            .with_name(name)
            .with_kwargs(network=network, labels=labels, entrypoint=["python3", "/fake/server.py"])
            .with_command(str(port))
        )
        # Published on loopback only; with_bind_ports() would publish on every interface.
        self.container.ports[f"{port}/tcp"] = ("127.0.0.1", port)

    def start(self) -> "FakeGitHubContainer":
        self.container.start()
        wait_until(self.answers, f"the fake GitHub at {self.local_url}", seconds=30)
        return self

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.local_url}/_fake/state", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def configure(self, client_id: str, client_secret: str, users: dict[str, dict]) -> None:
        """Users map a login to {"id": n, "orgs": [...], "teams": ["org:team", ...]}; resets codes and tokens."""
        config = {"client_id": client_id, "client_secret": client_secret, "users": users}
        requests.post(f"{self.local_url}/_fake/config", json=config, timeout=10).raise_for_status()

    def state(self) -> dict:
        return requests.get(f"{self.local_url}/_fake/state", timeout=10).json()

    def tokens_of(self, login: str) -> list[str]:
        return [token for token, grant in self.state()["tokens"].items() if grant["login"] == login]

    def local(self, url: str) -> str:
        """A URL the hub sent to the browser, as the test process reaches it."""
        return url.replace(self.hub_url, self.local_url, 1)

    def stop(self) -> None:
        self.container.stop()
