"""A Docker engine for the spawners' unit tests: a real HTTP server on loopback that speaks the part of Docker's API
the spawners use (images, volumes, containers, networks), keeps its objects in memory and records every request.

docker-py, and dockerspawner through it, talk to it as to dockerd (DOCKER_HOST=tcp://127.0.0.1:PORT). A container
of the JupyterHub version probe answers with its image's version; any other keeps running, reachable at 127.0.0.1,
until it is stopped. The recorded requests are what the spawners ask of Docker.
"""

import json
import re
import struct
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from appliance.docker_host import ASK_JUPYTERHUB_VERSION

API_VERSION = "1.44"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: object


@dataclass
class FakeContainer:
    id: str
    name: str
    config: dict
    running: bool = False
    exit_code: int = 0
    stdout: str = ""
    networks: dict[str, dict] = field(default_factory=dict)

    def inspected(self) -> dict:
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Image": self.config.get("Image"),
            "Config": {**self.config, "Labels": self.config.get("Labels") or {}},
            "HostConfig": self.config.get("HostConfig") or {},
            "State": {
                "Running": self.running,
                "Status": "running" if self.running else "exited",
                "ExitCode": self.exit_code,
            },
            "NetworkSettings": {"Networks": self.networks},
        }


class FakeEngine:
    def __init__(self, images: dict[str, str]):
        """`images`: the reference of each image the engine has, and the JupyterHub version it holds."""
        self.images = dict(images)
        self.image_configs: dict[str, dict] = {}  # what an image's config adds (Env, WorkingDir), by reference
        self.containers: dict[str, FakeContainer] = {}
        self.volumes: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeEngine":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()

    def asked(self, method: str, pattern: str) -> list[Recorded]:
        """The recorded requests of this method whose path (without the API version) matches the pattern."""
        return [one for one in self.requests if one.method == method and re.fullmatch(pattern, one.path)]

    def container(self, reference: str) -> FakeContainer | None:
        return self.containers.get(reference) or next(
            (one for one in self.containers.values() if one.name == reference.lstrip("/")), None
        )

    # -- the API ---------------------------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict, body) -> tuple[int, object]:
        routes = (
            ("GET", r"/_ping", lambda: (200, "OK")),
            (
                "GET",
                r"/version",
                lambda: (200, {"ApiVersion": API_VERSION, "Version": "fake", "MinAPIVersion": "1.24"}),
            ),
            ("GET", r"/images/(?P<name>.+)/json", self.inspect_image),
            ("GET", r"/volumes/(?P<name>[^/]+)", self.inspect_volume),
            ("POST", r"/volumes/create", lambda: self.create_volume(body)),
            ("DELETE", r"/volumes/(?P<name>[^/]+)", self.remove_volume),
            ("GET", r"/containers/json", lambda: (200, [self.listed(one) for one in self.containers.values()])),
            ("POST", r"/containers/create", lambda: self.create_container(query, body)),
            ("GET", r"/containers/(?P<ref>[^/]+)/json", self.inspect_container),
            ("POST", r"/containers/(?P<ref>[^/]+)/start", self.start_container),
            ("POST", r"/containers/(?P<ref>[^/]+)/wait", self.wait_container),
            ("GET", r"/containers/(?P<ref>[^/]+)/logs", lambda ref: self.logs(ref, query)),
            ("POST", r"/containers/(?P<ref>[^/]+)/stop", self.stop_container),
            ("DELETE", r"/containers/(?P<ref>[^/]+)", self.remove_container),
        )
        for route_method, pattern, respond in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                return respond(**match.groupdict())
        return 501, {"message": f"the fake engine does not know {method} {path}"}

    def inspect_image(self, name: str):
        if name not in self.images:
            return 404, {"message": f"No such image: {name}"}
        config = {"Cmd": ["start-notebook.py"], "User": "1000", "Labels": {}, **self.image_configs.get(name, {})}
        return 200, {"Id": f"sha256:{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}", "RepoTags": [name], "Config": config}

    def inspect_volume(self, name: str):
        if name not in self.volumes:
            return 404, {"message": f"get {name}: no such volume"}
        return 200, self.volumes[name]

    def create_volume(self, body: dict):
        volume = {"Name": body["Name"], "Driver": body.get("Driver") or "local", "Labels": body.get("Labels") or {}}
        self.volumes[body["Name"]] = volume
        return 201, volume

    def remove_volume(self, name: str):
        if self.volumes.pop(name, None) is None:
            return 404, {"message": f"get {name}: no such volume"}
        return 204, None

    def create_container(self, query: dict, body: dict):
        name = (query.get("name") or [uuid.uuid4().hex[:12]])[0]
        if body.get("Image") not in self.images:
            return 404, {"message": f"No such image: {body.get('Image')}"}
        if self.container(name):
            return 409, {"message": f'Conflict. The container name "/{name}" is already in use'}
        container = FakeContainer(uuid.uuid4().hex, name, body)
        network = (body.get("HostConfig") or {}).get("NetworkMode")
        if network and network not in ("default", "none", "host"):
            container.networks[network] = {"IPAddress": "127.0.0.1"}
        self.containers[container.id] = container
        return 201, {"Id": container.id, "Warnings": []}

    def found(self, ref: str):
        container = self.container(ref)
        return container, (404, {"message": f"No such container: {ref}"})

    def inspect_container(self, ref: str):
        container, missing = self.found(ref)
        return (200, container.inspected()) if container else missing

    def start_container(self, ref: str):
        container, missing = self.found(ref)
        if not container:
            return missing
        if container.config.get("Entrypoint") == ASK_JUPYTERHUB_VERSION:
            container.stdout = self.images[container.config["Image"]]
        else:
            container.running = True
        return 204, None

    def wait_container(self, ref: str):
        container, missing = self.found(ref)
        return (200, {"StatusCode": container.exit_code}) if container else missing

    def logs(self, ref: str, query: dict):
        container, missing = self.found(ref)
        if not container:
            return missing
        wanted = container.stdout if query.get("stdout") == ["1"] else ""
        return 200, multiplexed(wanted.encode())

    def stop_container(self, ref: str):
        container, missing = self.found(ref)
        if not container:
            return missing
        container.running = False
        return 204, None

    def remove_container(self, ref: str):
        container, missing = self.found(ref)
        if not container:
            return missing
        del self.containers[container.id]
        return 204, None

    @staticmethod
    def listed(container: FakeContainer) -> dict:
        return {"Id": container.id, "Names": [f"/{container.name}"], "Labels": container.config.get("Labels") or {}}


def multiplexed(payload: bytes) -> bytes:
    """Docker's stream format for a container without a terminal: one stdout frame."""
    return struct.pack(">BxxxL", 1, len(payload)) + payload if payload else b""


def handler_for(engine: FakeEngine):
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            url = urlsplit(self.path)
            path = re.sub(r"^/v[0-9.]+", "", url.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "") else None
            query = parse_qs(url.query)
            with engine.lock:
                engine.requests.append(Recorded(method, path, query, body))
                status, answer = engine.answer(method, path, query, body)
            if isinstance(answer, bytes):
                content, kind = answer, "application/vnd.docker.raw-stream"
            elif isinstance(answer, str):
                content, kind = answer.encode(), "text/plain"
            else:
                content, kind = (b"" if answer is None else json.dumps(answer).encode()), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self):
            self.handle_one("GET")

        def do_POST(self):
            self.handle_one("POST")

        def do_DELETE(self):
            self.handle_one("DELETE")

        def log_message(self, *_):
            return None

    return Handler
