"""The Docker broker: the only holder of the Docker socket. It serves Docker's API to the hub on a unix socket that
the hub mounts, and forwards each request the policy (appliance.broker.policy) allows; the rest get a 403 that names
the rule, and an audit line. Streams (pulls, logs, waits) pass through as they come.

Built on Tornado, JupyterHub's own HTTP library (lighter here than aiohttp: the broker stays small).
"""

import asyncio
import dataclasses
import json
import logging
import signal
from collections.abc import Callable
from http.client import responses

from tornado import httputil, netutil, web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError

from appliance.broker import policy
from appliance.broker.policy import REFUSED_BY, Found, Instance, Request, Target
from appliance.broker.upstream import Answer, Engine, EngineError
from appliance.layout import BROKER_SOCKET, ENGINE_SOCKET

# Headers that belong to one hop, not to the request or response forwarded.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}
# Labels of a container by its full id never change; names and short ids are looked up each time.
FULL_ID_LENGTH = 64
LABEL_CACHE_SIZE = 4096
log = logging.getLogger("appliance.broker")


class Broker:
    """Checks and forwards; `instance` is called for each request, so that the policy follows changed profiles."""

    def __init__(
        self,
        instance: Callable[[], Instance],
        engine_address: str = f"unix://{ENGINE_SOCKET}",
        record: Callable[[Request, Found, Instance], None] | None = None,
    ):
        """`engine_address`: unix://PATH (the mounted socket), or http://HOST:PORT (tests' fake engine)."""
        self.instance = instance
        self.record = record
        self.labels_by_id: dict[tuple[str, str], dict[str, str]] = {}
        self.engine = Engine(engine_address)

    async def verdict(self, request: Request) -> tuple[policy.Verdict, Instance, Found]:
        instance = self.instance()
        found = {target: await self.labels_of(target) for target in policy.targets(request)}
        return policy.decide(request, instance, found), instance, found

    async def labels_of(self, target: Target) -> dict[str, str] | None:
        """The labels of an existing container, service or volume; None when there is none of that name."""
        if (target.kind, target.name) in self.labels_by_id:
            return self.labels_by_id[target.kind, target.name]
        if not target.name:
            return None
        path = {"container": "/containers/{}/json", "service": "/services/{}", "volume": "/volumes/{}"}[target.kind]
        code, body = await self.engine.get(path.format(target.name))
        if code != 200:
            return None
        labels, object_id = object_labels(target.kind, json.loads(body))
        if target.kind != "volume" and len(object_id) == FULL_ID_LENGTH:
            self.remember(target.kind, object_id, labels)
        return labels

    def remember(self, kind: str, object_id: str, labels: dict[str, str]) -> None:
        if len(self.labels_by_id) < LABEL_CACHE_SIZE:
            self.labels_by_id[kind, object_id] = labels

    def created(self, request: Request, answer_body: bytes) -> None:
        """A container created through the broker carries the labels of its request: known without a lookup."""
        if request.path.endswith("/containers/create") and isinstance(request.body, dict):
            created_id = json.loads(answer_body or b"{}").get("Id", "")
            if len(created_id) == FULL_ID_LENGTH:
                self.remember("container", created_id, request.body.get("Labels") or {})


class ForwardingHandler(web.RequestHandler):
    """Every request: asked of the policy, then forwarded to the engine with its answer streamed back."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")

    def initialize(self, broker: Broker) -> None:
        self.broker = broker
        self.relay: Relay | None = None

    def clear(self) -> None:
        super().clear()
        for name in ("Content-Type", "Server"):
            self.clear_header(name)

    def compute_etag(self) -> None:
        return None

    async def get(self) -> None:
        await self.handle()

    head = post = put = delete = get

    async def handle(self) -> None:
        incoming = self.request
        request = Request(incoming.method or "GET", incoming.path, flat_query(incoming.query), parsed(incoming.body))
        verdict, instance, found = await self.broker.verdict(request)
        if verdict.missing is not None:
            self.answer_json(404, {"message": f"No such {verdict.missing.kind}: {verdict.missing.name}"})
            return
        if not verdict:
            level = logging.DEBUG if policy.BROKER_PROBE_NAME in incoming.path else logging.WARNING
            log.log(level, "refused %s %s: %s", incoming.method, incoming.path, verdict.rule)
            self.answer_json(403, {"message": f"{REFUSED_BY} {verdict.rule}"})
            return
        if self.broker.record is not None:
            self.broker.record(request, found, instance)
        log.log(logging.DEBUG if incoming.method == "GET" else logging.INFO, "allowed %s %s: %s",
                incoming.method, incoming.path, verdict.rule)  # fmt: skip
        await self.forward(request)

    def answer_json(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    async def forward(self, request: Request) -> None:
        incoming = self.request
        headers = {k: v for k, v in incoming.headers.get_all() if k.lower() not in HOP_HEADERS}
        body = incoming.body if incoming.method in ("POST", "PUT") else None
        self.relay = Relay(self, keep_body=incoming.path.endswith("/containers/create"))
        try:
            await self.broker.engine.fetch(incoming.method or "GET", incoming.uri or "/", headers, body, self.relay)
        except EngineError as error:
            if not self._headers_written and not self.relay.caller_gone:
                self.answer_json(502, {"message": f"the Docker broker could not reach the engine: {error}"})
            return
        self.broker.created(request, bytes(self.relay.body))
        self.finish()

    def on_connection_close(self) -> None:
        """The caller went away (a cancelled wait, a closed log stream): so does the request to the engine."""
        if self.relay is not None:
            self.relay.caller_gone = True
            self.relay.hang_up()


class Relay(Answer):
    """The engine's answer, passed to the caller as it arrives; a create's body is kept for its id."""

    def __init__(self, handler: ForwardingHandler, keep_body: bool):
        super().__init__()
        self.handler = handler
        self.keep_body = keep_body
        self.body = bytearray()
        self.caller_gone = False

    def started(self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders) -> None:
        self.handler.set_status(start_line.code, start_line.reason or responses.get(start_line.code, "Unknown"))
        for name, value in headers.get_all():
            if name.lower() not in HOP_HEADERS:
                self.handler.add_header(name, value)

    async def data_received(self, chunk: bytes) -> None:
        if self.keep_body:
            self.body.extend(chunk)
        self.handler.write(chunk)
        try:
            await self.handler.flush()
        except StreamClosedError:
            self.caller_gone = True
            self.hang_up()


def object_labels(kind: str, found: dict) -> tuple[dict[str, str], str]:
    if kind == "container":
        return (found.get("Config") or {}).get("Labels") or {}, found.get("Id", "")
    if kind == "service":
        return (found.get("Spec") or {}).get("Labels") or {}, found.get("ID", "")
    return found.get("Labels") or {}, ""


def flat_query(query: str) -> dict[str, str]:
    pairs = httputil.parse_qs_bytes(query, keep_blank_values=True).items()
    return {name: values[-1].decode(errors="replace") for name, values in pairs}


def parsed(body: bytes):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class Recorder:
    """Appends each allowed request, with the labels it was decided on, to a JSON-lines file: the fixtures of the
    policy's unit tests come from real runs this way. Environment values (tokens among them) are left out."""

    def __init__(self, path: str):
        self.path = path
        self.instance_written = False

    def __call__(self, request: Request, found: Found, instance: Instance) -> None:
        lines: list[dict] = [] if self.instance_written else [{"instance": dataclasses.asdict(instance)}]
        self.instance_written = True
        lines.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "body": without_environment_values(request.body),
                "found": [[target.kind, target.name, labels] for target, labels in found.items()],
            }
        )
        with open(self.path, "a") as out:
            out.writelines(json.dumps(line, sort_keys=True, default=sorted) + "\n" for line in lines)


def without_environment_values(body):
    """A create's body with each KEY=value of Env (and a service's ContainerSpec Env) as KEY=…."""
    if not isinstance(body, dict):
        return body
    copied = json.loads(json.dumps(body))
    container = ((copied.get("TaskTemplate") or {}).get("ContainerSpec")) or copied
    for holder in (copied, container):
        if isinstance(holder.get("Env"), list):
            holder["Env"] = [entry.split("=", 1)[0] + "=…" for entry in holder["Env"]]
    return copied


def application(broker: Broker) -> web.Application:
    return web.Application([(r".*", ForwardingHandler, {"broker": broker})], log_function=lambda _handler: None)


def listen(broker: Broker, path: str) -> HTTPServer:
    """Serve on a unix socket that only root (the hub's JupyterHub) may open."""
    server = HTTPServer(application(broker), max_body_size=16 * 1024 * 1024)
    server.add_socket(netutil.bind_unix_socket(path, mode=0o600))
    return server


def serve(make_broker: Callable[[], Broker], path: str = BROKER_SOCKET) -> None:
    """Serve until stopped; the broker (and its HTTP client) is made on the running event loop."""

    async def run() -> None:
        stopped = asyncio.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            # PID 1 of its container: without a handler, SIGTERM is ignored and `docker stop` waits 10 s.
            asyncio.get_running_loop().add_signal_handler(signal_number, stopped.set)
        server = listen(make_broker(), path)
        log.info("The Docker broker serves on %s", path)
        await stopped.wait()
        server.stop()
        log.info("The Docker broker stopped")

    asyncio.run(run())
