"""A real OpenID Connect provider (oidc-provider-mock, the version requirements/test.txt pins) as a container:
on the appliance network for the hub, published on loopback for the tests, clients registered by the test."""

import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from testcontainers.core.container import DockerContainer

from harness.compose import HUB_IMAGE, ROOT
from harness.hub_client import HubClient, HubClientError, wait_until

IMAGE = "jupyterhub-appliance/e2e-oidc-provider:latest"
DOCKERFILE = f"""FROM {HUB_IMAGE}
COPY test.txt /tmp/constraints.txt
RUN python3 -m venv /opt/oidc \\
 && /opt/oidc/bin/pip install --no-cache-dir -c /tmp/constraints.txt oidc-provider-mock
ENTRYPOINT ["/opt/oidc/bin/oidc-provider-mock", "--host", "0.0.0.0", "--require-registration"]
"""


def build_image(client) -> str:
    """Built from the hub image (its Python, its CA bundle), pinned as the tests are; Docker caches it."""
    with tempfile.TemporaryDirectory() as context:
        Path(context, "Dockerfile").write_text(DOCKERFILE)
        shutil.copy(ROOT / "requirements" / "test.txt", context)
        client.images.build(path=context, tag=IMAGE, rm=True)
    return IMAGE


class OidcProvider:
    def __init__(self, name: str, port: int, labels: dict[str, str]):
        self.name, self.port, self.labels = name, port, labels
        self.issuer = f"http://{name}:{port}"
        self.local_url = f"http://127.0.0.1:{port}"
        self.container = None

    def start(self, network: str) -> "OidcProvider":
        self.container = (
            DockerContainer(IMAGE)
            .with_name(self.name)
            .with_kwargs(network=network, labels=self.labels)
            .with_command(f"--port {self.port}")
        )
        # Published on loopback only.
        self.container.ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)
        self.container.start()
        wait_until(self.answers, f"the OpenID Connect provider at {self.local_url}", seconds=60)
        return self

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.local_url}/.well-known/openid-configuration", timeout=2).ok
        except requests.ConnectionError:
            return False

    def register_client(self, callback: str) -> tuple[str, str]:
        body = {"redirect_uris": [callback], "token_endpoint_auth_method": "client_secret_post"}
        response = requests.post(f"{self.local_url}/oauth2/clients", json=body, timeout=10)
        response.raise_for_status()
        return response.json()["client_id"], response.json()["client_secret"]

    def set_user(self, sub: str, claims: dict) -> None:
        requests.put(f"{self.local_url}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def local(self, url: str) -> str:
        return url.replace(self.issuer, self.local_url, 1)

    def login_attempt(self, hub: HubClient, sub: str) -> tuple[dict[str, str], requests.Response]:
        """The authorization code flow as a browser runs it; the authorize query, and the hub's answer."""
        start = hub.session.get(f"{hub.base_url}/hub/oauth_login", allow_redirects=False, timeout=30)
        if start.status_code != 302:
            raise HubClientError(f"/hub/oauth_login: HTTP {start.status_code}")
        authorize = start.headers["Location"]
        query = {key: values[0] for key, values in parse_qs(urlsplit(authorize).query).items()}
        approval = requests.post(self.local(authorize), data={"sub": sub}, allow_redirects=False, timeout=30)
        if approval.status_code != 302:
            raise HubClientError(f"the provider's authorize: HTTP {approval.status_code} {approval.text[:200]}")
        callback = hub.session.get(approval.headers["Location"], allow_redirects=False, timeout=60)
        return query, callback

    def log_in(self, hub: HubClient, sub: str) -> HubClient:
        _, callback = self.login_attempt(hub, sub)
        if callback.status_code != 302:
            raise HubClientError(f"OpenID Connect login as {sub}: HTTP {callback.status_code}")
        hub.username = sub
        return hub

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
