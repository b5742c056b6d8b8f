"""The Docker broker: the only holder of the Docker socket. It serves Docker's API on a unix socket that the hub
mounts, and forwards each request the policy (appliance.broker.policy) allows; the rest get a 403 that names the
rule, and an audit line. Streams (pulls, logs, waits) pass through as they come."""

import asyncio
import dataclasses
import json
import logging
import os
import socket
import time
from collections.abc import Callable

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, UnixConnector, web
from yarl import URL

from appliance.broker import policy
from appliance.broker.policy import REFUSED_BY, Found, Instance, Request, Target

# Where the engine is, and where the hub finds the broker (a volume both containers mount).
ENGINE_SOCKET = "/var/run/docker.sock"
BROKER_FOLDER = "/run/appliance-broker"
BROKER_SOCKET = f"{BROKER_FOLDER}/docker.sock"
BROKER_ADDRESS = f"unix://{BROKER_SOCKET}"
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
        self.engine_address = engine_address
        self.engine_url = URL("http://docker" if engine_address.startswith("unix://") else engine_address)
        self.record = record
        self.labels_by_id: dict[tuple[str, str], dict[str, str]] = {}
        self.session: ClientSession | None = None

    async def engine(self) -> ClientSession:
        if self.session is None:
            unix = self.engine_address.removeprefix("unix://") if self.engine_address.startswith("unix://") else ""
            connector = UnixConnector(path=unix, limit=0) if unix else TCPConnector(limit=0)
            self.session = ClientSession(connector=connector, timeout=ClientTimeout(total=None), auto_decompress=False)
        return self.session

    async def handle(self, incoming: web.Request) -> web.StreamResponse:
        body = await incoming.read()
        request = Request(incoming.method, incoming.path, dict(incoming.query), parsed(body))
        instance = self.instance()
        found = {target: await self.labels_of(target) for target in policy.targets(request)}
        verdict = policy.decide(request, instance, found)
        if verdict.missing is not None:
            return web.json_response({"message": f"No such {verdict.missing.kind}: {verdict.missing.name}"}, status=404)
        if not verdict:
            log.warning("refused %s %s: %s", incoming.method, incoming.path, verdict.rule)
            return web.json_response({"message": f"{REFUSED_BY} {verdict.rule}"}, status=403)
        if self.record is not None:
            self.record(request, found, instance)
        log.log(logging.DEBUG if incoming.method == "GET" else logging.INFO, "allowed %s %s: %s",
                incoming.method, incoming.path, verdict.rule)  # fmt: skip
        return await self.forward(incoming, body)

    async def forward(self, incoming: web.Request, body: bytes) -> web.StreamResponse:
        engine = await self.engine()
        headers = {k: v for k, v in incoming.headers.items() if k.lower() not in HOP_HEADERS}
        url = URL(str(self.engine_url.origin()) + incoming.rel_url.raw_path_qs, encoded=True)
        async with engine.request(incoming.method, url, headers=headers, data=body or None) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            response.headers.update({k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS})
            if answer.content_length is not None:
                response.content_length = answer.content_length
            await response.prepare(incoming)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def labels_of(self, target: Target) -> dict[str, str] | None:
        """The labels of an existing container, service or volume; None when there is none of that name."""
        if (target.kind, target.name) in self.labels_by_id:
            return self.labels_by_id[target.kind, target.name]
        if not target.name:
            return None
        path = {"container": "/containers/{}/json", "service": "/services/{}", "volume": "/volumes/{}"}[target.kind]
        engine = await self.engine()
        async with engine.get(self.engine_url / path.format(target.name).lstrip("/")) as answer:
            if answer.status != 200:
                return None
            found = await answer.json()
        labels, object_id = object_labels(target.kind, found)
        if target.kind != "volume" and len(object_id) == FULL_ID_LENGTH and len(self.labels_by_id) < LABEL_CACHE_SIZE:
            self.labels_by_id[target.kind, object_id] = labels
        return labels

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


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


def object_labels(kind: str, found: dict) -> tuple[dict[str, str], str]:
    if kind == "container":
        return (found.get("Config") or {}).get("Labels") or {}, found.get("Id", "")
    if kind == "service":
        return (found.get("Spec") or {}).get("Labels") or {}, found.get("ID", "")
    return found.get("Labels") or {}, ""


def parsed(body: bytes):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def application(broker: Broker) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{path:.*}", broker.handle)

    async def close_engine(_app) -> None:
        await broker.close()

    app.on_cleanup.append(close_engine)
    return app


def serve(broker: Broker, path: str = BROKER_SOCKET) -> None:
    """Serve on a unix socket that only the hub's user (root in the hub container) may open."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    log.info("The Docker broker serves on %s", path)
    web.run_app(application(broker), sock=listener, print=None, handle_signals=True, access_log=None)


def answers(path: str = BROKER_SOCKET, seconds: float = 2.0) -> bool:
    """Whether a broker answers Docker's ping on this socket."""

    async def ping() -> bool:
        timeout = ClientTimeout(total=seconds)
        async with (
            ClientSession(connector=UnixConnector(path=path), timeout=timeout) as session,
            session.get("http://docker/_ping") as answer,
        ):
            return answer.status == 200

    try:
        return asyncio.run(ping())
    except (TimeoutError, OSError, ClientError):
        return False


def wait_until_answering(path: str, seconds: float, say: Callable[[str], None]) -> bool:
    """Wait for the broker (it may start after the hub); say so once while waiting."""
    deadline = time.monotonic() + seconds
    said = False
    while not answers(path):
        if time.monotonic() > deadline:
            return False
        if not said:
            say(f"Waiting for the Docker broker at {path} …")
            said = True
        time.sleep(0.5)
    return True
