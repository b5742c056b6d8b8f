"""A browser-like client of the appliance: form login, REST API, contents API and kernel websockets."""

import html
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
import websocket

DEADLINE_SECONDS = 120


class HubClientError(AssertionError):
    pass


@dataclass
class GitHubAttempt:
    authorize_query: dict[str, str]
    authorize_page: str
    callback: requests.Response


@dataclass
class SpawnResult:
    seconds: float
    events: list[dict] = field(default_factory=list)


class HubClient:
    """One person in one browser: a cookie jar, the hub's XSRF token, and their user name."""

    def __init__(self, base_url: str, ca_file: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = ca_file or True
        # Otherwise requests lets REQUESTS_CA_BUNDLE from the environment override `verify`.
        self.session.trust_env = False
        self.ca_file = ca_file
        self.username = ""

    # -- hub -------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> "HubClient":
        response = self.login_response(username, password)
        if response.status_code != 302:
            raise HubClientError(f"login as {username} failed: HTTP {response.status_code}")
        self.username = username
        return self

    def login_response(self, username: str, password: str) -> requests.Response:
        return self.post_form("/hub/login", {"username": username, "password": password})

    def post_form(self, path: str, fields: dict[str, str], form_page: str = "") -> requests.Response:
        """Submit a hub form as a browser does: with the XSRF token of the page that shows it."""
        return self.session.post(
            f"{self.base_url}{path}",
            data={**fields, "_xsrf": self.page_xsrf(form_page or path)},
            allow_redirects=False,
            timeout=30,
        )

    def page_xsrf(self, path: str) -> str:
        page = self.session.get(f"{self.base_url}{path}", timeout=30)
        page.raise_for_status()
        match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        if not match:
            raise HubClientError(f"{path} has no form with an _xsrf field")
        return match.group(1)

    def on_behalf_of(self, owner: str) -> "HubClient":
        """The same person (cookies, XSRF) acting on another user's server: a teaching assistant, say. Every
        method about "the user's server" is then about `owner`'s."""
        acting = HubClient(self.base_url, ca_file=self.ca_file)
        acting.session, acting.username = self.session, owner
        return acting

    # -- native login's own pages ------------------------------------------------------------
    def sign_up(self, username: str, password: str) -> str:
        """Sign up; return what the page says."""
        fields = {"username": username, "signup_password": password, "signup_password_confirmation": password}
        return page_message(self.post_form("/hub/signup", fields), "alert")

    def change_password(self, old: str, new: str) -> str:
        fields = {"old_password": old, "new_password": new, "new_password_confirmation": new}
        return page_message(self.post_form("/hub/change-password", fields), "alert")

    def reset_password(self, username: str, new: str) -> str:
        """As an admin: set another user's password."""
        fields = {"new_password": new, "new_password_confirmation": new}
        return page_message(self.post_form(f"/hub/change-password/{username}", fields), "alert")

    def toggle_approval(self, username: str) -> requests.Response:
        """As an admin: the Authorize (or Unauthorize) button of the authorization page."""
        return self.post_form(f"/hub/authorize/{username}", {}, form_page="/hub/authorize")

    def approved(self, username: str) -> bool:
        page = self.session.get(f"{self.base_url}/hub/authorize", timeout=30)
        page.raise_for_status()
        row = re.search(rf'<tr [^>]*id="{re.escape(username)}">(.*?)</tr>', page.text, re.S)
        if not row:
            raise HubClientError(f"the authorization page lists no {username}")
        return "<td>Yes</td>" in row.group(1)

    def github_login_attempt(self, github, login: str) -> "GitHubAttempt":
        """The OAuth web flow as a browser runs it: hub, GitHub's authorize page, approval, hub callback."""
        start = self.session.get(f"{self.base_url}/hub/oauth_login", allow_redirects=False, timeout=30)
        if start.status_code != 302:
            raise HubClientError(f"/hub/oauth_login: HTTP {start.status_code}")
        authorize_url = start.headers["Location"]
        query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        page = self.session.get(github.local(authorize_url), timeout=30)
        if f'value="{login}"' not in page.text:
            raise HubClientError(f"the authorize page offers no {login}")
        approval = self.session.post(
            github.local(authorize_url.split("?", 1)[0]), data={**query, "login": login}, allow_redirects=False
        )
        callback = self.session.get(approval.headers["Location"], allow_redirects=False, timeout=30)
        return GitHubAttempt(query, page.text, callback)

    def login_with_github(self, github, login: str) -> "HubClient":
        attempt = self.github_login_attempt(github, login)
        if attempt.callback.status_code != 302:
            raise HubClientError(f"GitHub login as {login}: HTTP {attempt.callback.status_code}")
        self.username = login
        return self

    def hub_xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", path="/hub/") or ""

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": self.hub_xsrf(), **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.base_url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def whoami(self) -> str:
        response = self.api("GET", "/user")
        response.raise_for_status()
        return response.json()["name"]

    def server_model(self) -> dict | None:
        model = self.api("GET", f"/users/{self.username}").json()
        assert "servers" in model, model
        return model["servers"].get("")

    def server_url(self) -> str | None:
        return (self.server_model() or {}).get("url")

    def start_server(self, options: dict | None = None) -> SpawnResult:
        """Ask the hub to start the server (with user options, such as an image), then follow its progress."""
        started = time.monotonic()
        response = self.api("POST", f"/users/{self.username}/server", json=options)
        if response.status_code not in (201, 202):
            raise HubClientError(f"start of {self.username}'s server: HTTP {response.status_code} {response.text}")
        events = self.follow_progress()
        return SpawnResult(time.monotonic() - started, events)

    def ensure_running(self, options: dict | None = None) -> SpawnResult | None:
        """Start the server (with `options`) unless it runs, then open JupyterLab; return the spawn, if there was
        one."""
        server, spawn = self.server_model(), None
        if server is None:
            spawn = self.start_server(options)
        elif not server["ready"]:
            self.follow_progress()
        lab = self.open_lab()
        if lab.status_code != 200:
            raise HubClientError(f"JupyterLab of {self.username}: HTTP {lab.status_code}")
        return spawn

    def follow_progress(self) -> list[dict]:
        with self.api(
            "GET", f"/users/{self.username}/server/progress", headers={"Accept": "text/event-stream"}, stream=True
        ) as stream:
            return events_until_ready(stream)

    def failed_start(self, options: dict | None = None) -> str:
        """Start the server, expecting it to fail; return the reason, from the API answer or the progress stream."""
        wait_until(lambda: not (self.server_model() or {}).get("pending"), "no pending stop or start")
        response = self.api("POST", f"/users/{self.username}/server", json=options)
        if response.status_code >= 400:
            return f"{response.status_code} {response.json()['message']}"
        # 201 can come while still pending: JupyterHub answers so after replacing a failed spawner.
        try:
            self.follow_progress()
        except HubClientError as failure:
            return str(failure)
        raise HubClientError(f"{self.username}'s server started, but it was expected to fail")

    def stop_server(self) -> None:
        response = self.api("DELETE", f"/users/{self.username}/server")
        if response.status_code not in (202, 204):
            raise HubClientError(f"stop: HTTP {response.status_code} {response.text}")
        wait_until(lambda: self.server_url() is None, f"{self.username}'s server to stop")

    # -- the user's own server, through the proxy ----------------------------------------------
    def open_lab(self) -> requests.Response:
        """Open JupyterLab as a browser does: through the hub's OAuth redirects to the user server. Someone
        else's server (a teaching assistant's, an admin's) first asks to authorize it: that form is submitted."""
        lab = self.session.get(f"{self.base_url}/user/{self.username}/lab", timeout=60)
        if "/hub/api/oauth2/authorize" in lab.url and 'name="scopes"' in lab.text:
            fields = re.findall(r'<input type="hidden" name="(_xsrf|scopes)" value="([^"]*)"', lab.text)
            lab = self.session.post(lab.url, data=[(name, html.unescape(value)) for name, value in fields], timeout=60)
        return lab

    def user_xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", path=f"/user/{self.username}/") or ""

    def server_api(self, method: str, path: str, owner: str = "", **kwargs) -> requests.Response:
        owner = owner or self.username
        headers = {"X-XSRFToken": self.user_xsrf()}
        url = f"{self.base_url}/user/{owner}/api{path}"
        return self.session.request(method, url, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def put_file(self, path: str, text: str) -> None:
        response = self.server_api("PUT", f"/contents/{path}", json={"type": "file", "format": "text", "content": text})
        if response.status_code not in (200, 201):
            raise HubClientError(f"PUT {path}: HTTP {response.status_code} {response.text}")

    def read_file(self, path: str) -> str:
        response = self.server_api("GET", f"/contents/{path}")
        response.raise_for_status()
        return response.json()["content"]

    def create_notebook(self, path: str) -> None:
        notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        response = self.server_api("PUT", f"/contents/{path}", json={"type": "notebook", "content": notebook})
        if response.status_code not in (200, 201):
            raise HubClientError(f"creating {path}: HTTP {response.status_code} {response.text}")

    def start_kernel(self, notebook_path: str, kernel_name: str = "python3") -> "Kernel":
        response = self.server_api(
            "POST", "/sessions", json={"path": notebook_path, "type": "notebook", "kernel": {"name": kernel_name}}
        )
        if response.status_code != 201:
            raise HubClientError(f"starting a kernel: HTTP {response.status_code} {response.text}")
        return self.connect_kernel(response.json()["kernel"]["id"])

    def run_once(self, code: str, notebook: str = "run-once.ipynb") -> str:
        """Run code in a new kernel of a new notebook; return what it printed."""
        self.create_notebook(notebook)
        kernel = self.start_kernel(notebook)
        try:
            return kernel.run(code)
        finally:
            kernel.close()

    def connect_kernel(self, kernel_id: str) -> "Kernel":
        ws_base = "ws" + self.base_url.removeprefix("http")
        url = f"{ws_base}/user/{self.username}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.session.cookies)
        connection = websocket.create_connection(
            url,
            cookie=cookies,
            header=[f"X-XSRFToken: {self.user_xsrf()}"],
            timeout=60,
            origin=self.base_url,
            sslopt={"ca_certs": self.ca_file} if self.ca_file else None,
        )
        return Kernel(kernel_id, connection)


class Kernel:
    """A kernel reached over its websocket, speaking the Jupyter messaging protocol."""

    def __init__(self, kernel_id: str, connection: websocket.WebSocket):
        self.id = kernel_id
        self.connection = connection
        self.session = uuid.uuid4().hex

    def execute(self, code: str) -> str:
        """Send an execute request; return its message id."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "session": self.session, "username": "e2e", "msg_type": "execute_request"}
        content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
        message = {"header": {**header, "version": "5.3"}, "parent_header": {}, "metadata": {}, "content": content}
        self.connection.send(json.dumps({**message, "channel": "shell", "buffers": []}))
        return msg_id

    def run_until_dead(self, code: str) -> str:
        """Execute code that should kill the kernel; return the kernel's last status (dead or restarting)."""
        self.execute(code)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            reply = json.loads(self.connection.recv())
            state = reply.get("content", {}).get("execution_state")
            if reply["header"]["msg_type"] == "status" and state in ("dead", "restarting"):
                return state
        raise HubClientError(f"the kernel survived {code!r} for {DEADLINE_SECONDS} s")

    def run(self, code: str) -> str:
        """Execute code and return what it printed; raise with the traceback on an error."""
        msg_id = self.execute(code)
        output = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            reply = json.loads(self.connection.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = reply["header"]["msg_type"]
            if kind == "stream":
                output.append(reply["content"]["text"])
            elif kind == "error":
                raise HubClientError("\n".join(reply["content"]["traceback"]))
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(output).strip()
        raise HubClientError(f"no reply to {code!r} within {DEADLINE_SECONDS} s")

    def close(self) -> None:
        self.connection.close()


def events_until_ready(stream: requests.Response) -> list[dict]:
    """Read a spawn's progress stream (server-sent events) until the server is ready; raise when it failed."""
    events = []
    for raw in stream.iter_lines(decode_unicode=True):
        line = raw.decode() if isinstance(raw, bytes) else raw
        if not line or not line.startswith("data:"):
            continue
        event = json.loads(line[len("data:") :])
        events.append(event)
        if event.get("failed"):
            raise HubClientError(f"spawn failed: {event.get('message')}")
        if event.get("ready"):
            return events
    raise HubClientError(f"progress stream ended before the server was ready: {events}")


def page_message(response: requests.Response, css_class: str) -> str:
    """The text of the page's first element of that class, whitespace collapsed."""
    match = re.search(rf'class="[^"]*\b{css_class}\b[^"]*"[^>]*>(.*?)</(?:div|p)>', response.text, re.S)
    if not match:
        raise HubClientError(f"{response.url} shows no {css_class}: HTTP {response.status_code}")
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def running_server_of(stack, username: str, password: str, options: dict | None = None) -> HubClient:
    """`username` logged in to `stack` (a compose or swarm deployment), their server running, JupyterLab open."""
    person = stack.client_for().login(username, password)
    person.ensure_running(options)
    return person


def wait_until(condition, what: str, seconds: float = DEADLINE_SECONDS, every: float = 0.25):
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise HubClientError(f"timed out after {seconds} s waiting for {what}")


def swarm_hub_answers(url: str) -> bool:
    """Both pages: right after the hub's task turns healthy, Swarm's DNS may not yet resolve it for the proxy."""
    try:
        return all(requests.get(f"{url}/hub/{page}", timeout=2).ok for page in ("health", "login"))
    except requests.RequestException:
        return False
