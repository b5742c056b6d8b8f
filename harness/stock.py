"""A stock JupyterHub with DockerSpawner (bench/stock_jupyterhub_config.py), in the hub image, as the baseline the
benches compare the appliance with."""

import secrets

import requests

from harness.compose import HUB_IMAGE, ROOT, SINGLEUSER_IMAGE, free_port
from harness.hub_client import HubClient, wait_until


class StockHub:
    """The stock hub on `network`, its servers labelled `label`=`run`; `down` removes it, every server it spawned
    and the volumes of users named `user_prefix…` made since it started."""

    def __init__(self, client, network: str, user_prefix: str, label: str, run: str):
        self.client, self.network, self.user_prefix, self.label, self.run = client, network, user_prefix, label, run
        self.token, port = secrets.token_hex(16), free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.volumes_before = {volume.name for volume in client.volumes.list()}
        self.container = client.containers.create(
            HUB_IMAGE,
            ["-f", "/bench/stock_jupyterhub_config.py"],
            entrypoint=["jupyterhub"],
            environment={
                "DOCKER_NOTEBOOK_IMAGE": SINGLEUSER_IMAGE,
                "DOCKER_NETWORK_NAME": network,
                "BENCH_TOKEN": self.token,
                "BENCH_RUN": run,
            },
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(ROOT / "bench"): {"bind": "/bench", "mode": "ro"},
            },
            ports={"8000/tcp": ("127.0.0.1", port)},
            labels={label: run},
            name=f"jupyterhub-bench-{run}",
        )

    def up(self) -> "StockHub":
        self.client.networks.get(self.network).connect(self.container, aliases=["jupyterhub"])
        self.container.start()
        wait_until(lambda: answers(f"{self.url}/hub/health"), "the stock hub", seconds=120)
        return self

    def client_for(self) -> HubClient:
        return HubClient(self.url)

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace")

    def user_servers(self, username: str | None = None) -> list:
        servers = self.client.containers.list(all=True, filters={"label": f"{self.label}={self.run}"})
        return [server for server in servers if username is None or server.name == f"jupyter-{username}"]

    def down(self) -> None:
        self.container.remove(force=True, v=True)
        for container in self.user_servers():
            container.remove(force=True, v=True)
        for volume in self.client.volumes.list():
            made_here = volume.name not in self.volumes_before
            if made_here and volume.name.startswith(f"jupyterhub-user-{self.user_prefix}"):
                volume.remove(force=True)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
