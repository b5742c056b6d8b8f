"""The tests' learning platform (lti_platform_server.py) as a container: on the appliance network for the hub
(which reads its keyset), published on loopback for the tests and the browser; and a launch as a browser makes
it, with requests: the platform's pages are forms that the browser posts on."""

import base64
import json
import re
import shutil
import tempfile
from html import unescape
from pathlib import Path

import requests
from testcontainers.core.container import DockerContainer

from harness.compose import HUB_IMAGE
from harness.hub_client import HubClient, HubClientError, wait_until

IMAGE = "jupyterhub-appliance/e2e-lti-platform:latest"
SERVER = Path(__file__).with_name("lti_platform_server.py")
DOCKERFILE = f"""FROM {HUB_IMAGE}
COPY lti_platform_server.py /opt/lti_platform_server.py
ENTRYPOINT ["python3", "/opt/lti_platform_server.py"]
"""
CLIENT_ID = "appliance-tool-client"


def build_image(client) -> str:
    with tempfile.TemporaryDirectory() as context:
        Path(context, "Dockerfile").write_text(DOCKERFILE)
        shutil.copy(SERVER, context)
        client.images.build(path=context, tag=IMAGE, rm=True)
    return IMAGE


class RefusedInitiation(HubClientError):
    def __init__(self, answer: requests.Response):
        super().__init__(f"the hub refused the login initiation: HTTP {answer.status_code}")
        self.answer = answer


class LoopbackIsSecure(requests.cookies.RequestsCookieJar):
    """As browsers do: Secure cookies (the launch's SameSite=None ones) go to loopback over http too. (requests
    copies the cookies into a jar of its own for each request, so they are stored as not Secure.)"""

    def set_cookie(self, cookie, *args, **kwargs):
        if cookie.domain in ("127.0.0.1", "localhost"):
            cookie.secure = False
        return super().set_cookie(cookie, *args, **kwargs)


def browser_like(hub: HubClient) -> HubClient:
    if not isinstance(hub.session.cookies, LoopbackIsSecure):
        jar = LoopbackIsSecure()
        jar.update(hub.session.cookies)
        hub.session.cookies = jar
    return hub


def page_text(page: str) -> str:
    """An error page's words, without its markup."""
    body = page.split("<body", 1)[-1]
    return " ".join(unescape(re.sub(r"<script.*?</script>|<[^>]+>", " ", body, flags=re.S)).split())[:1500]


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a platform's auto-posting page."""
    action = re.search(r'<form id="launch" method="post" action="([^"]+)"', page)
    if not action:
        raise HubClientError(f"no launch form in: {page[:300]}")
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return unescape(action.group(1)), {name: unescape(value) for name, value in fields}


class LtiPlatform:
    def __init__(self, name: str, port: int, labels: dict[str, str]):
        self.name, self.port, self.labels = name, port, labels
        self.issuer = f"http://{name}:{port}"
        self.local_url = f"http://127.0.0.1:{port}"
        self.container = None

    @property
    def settings(self) -> dict[str, str]:
        return {
            "AUTH_MODE": "lti13",
            "LTI_ISSUER": self.issuer,
            "LTI_CLIENT_ID": CLIENT_ID,
            "LTI_AUTHORIZE_URL": f"{self.issuer}/authorize",
            "LTI_JWKS_URL": f"{self.issuer}/jwks",
        }

    def start(self, network: str) -> "LtiPlatform":
        self.container = (
            DockerContainer(IMAGE)
            .with_name(self.name)
            .with_kwargs(network=network, labels=self.labels)
            .with_env("PLATFORM_ISSUER", self.issuer)
            .with_env("PLATFORM_PORT", str(self.port))
        )
        self.container.ports[f"{self.port}/tcp"] = ("127.0.0.1", self.port)
        self.container.start()
        wait_until(self.answers, f"the LTI platform at {self.local_url}", seconds=60)
        return self

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.local_url}/jwks", timeout=2).ok
        except requests.ConnectionError:
            return False

    def launch_query(self, hub: HubClient, sub: str, **launch) -> str:
        spec = {"tool": hub.base_url, "client_id": CLIENT_ID, "sub": sub, **launch}
        return base64.urlsafe_b64encode(json.dumps(spec).encode()).decode().rstrip("=")

    def launch_form(self, hub: HubClient, sub: str, **launch) -> tuple[str, dict[str, str]]:
        """Course page → login initiation → authentication, as a browser runs them: where the launch is posted,
        and its fields (id_token, state). An initiation the hub refuses is a HubClientError with its answer."""
        browser_like(hub)
        query = self.launch_query(hub, sub, **launch)
        page = requests.get(f"{self.local_url}/launch", params={"launch": query}, timeout=30)
        action, fields = form_of(page.text)
        initiation = hub.session.post(action, data=fields, allow_redirects=False, timeout=30)
        if initiation.status_code != 302:
            raise RefusedInitiation(initiation)
        authorize = requests.get(self.local(initiation.headers["Location"]), timeout=30)
        if authorize.status_code != 200:
            raise HubClientError(f"the platform's authorize: HTTP {authorize.status_code} {authorize.text[:300]}")
        return form_of(authorize.text)

    def launch_attempt(self, hub: HubClient, sub: str, **launch) -> tuple[dict[str, str], requests.Response]:
        """The launch's fields, and the hub's answer (to the initiation, if it refused that)."""
        try:
            callback, fields = self.launch_form(hub, sub, **launch)
        except RefusedInitiation as refused:
            return {}, refused.answer
        return fields, hub.session.post(callback, data=fields, allow_redirects=False, timeout=60)

    def launch(self, hub: HubClient, sub: str, **launch) -> requests.Response:
        _, answer = self.launch_attempt(hub, sub, **launch)
        if answer.status_code != 302:
            raise HubClientError(f"launch as {sub}: HTTP {answer.status_code} {page_text(answer.text)}")
        hub.username = sub
        return answer

    def local(self, url: str) -> str:
        return url.replace(self.issuer, self.local_url, 1)

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
