"""The broker's connections to the engine (appliance.broker.upstream), against a real HTTP/1.1 server on a unix
socket that counts its connections: they are kept between requests, a stale one is replaced only where asking again
changes nothing, and a caller who goes away ends the request to the engine."""

import asyncio
from pathlib import Path

import pytest
from tornado import netutil, web
from tornado.httpserver import HTTPServer

from appliance.broker.upstream import Collected, Engine, EngineError


class Seen:
    def __init__(self) -> None:
        self.streams: list = []
        self.requests: list[str] = []


class CountingServer(HTTPServer):
    """Tornado's HTTP/1.1 server (keep-alive, like dockerd's), counting its connections."""

    def handle_stream(self, stream, address) -> None:
        self.seen.streams.append(stream)
        super().handle_stream(stream, address)


class Answering(web.RequestHandler):
    def initialize(self, seen: Seen) -> None:
        self.seen = seen

    def get(self, name: str) -> None:
        self.seen.requests.append(f"GET {name}")
        self.finish({"name": name})

    def post(self, name: str) -> None:
        self.seen.requests.append(f"POST {name} {self.request.body.decode()}")
        self.set_status(201)
        self.finish({"created": name})


class Streaming(web.RequestHandler):
    """A log that never ends: a line, then more only when asked to (never)."""

    async def get(self) -> None:
        self.write("first line\n")
        await self.flush()
        await asyncio.Event().wait()


def serving(tmp_path: Path) -> tuple[CountingServer, Seen, str]:
    seen = Seen()
    server = CountingServer(web.Application([(r"/stream", Streaming), (r"/(\w+)", Answering, {"seen": seen})]))
    server.seen = seen
    path = str(tmp_path / "engine.sock")
    server.add_socket(netutil.bind_unix_socket(path))
    return server, seen, f"unix://{path}"


async def closed_within(stream, seconds: float) -> bool:
    for _ in range(int(seconds * 100)):
        if stream.closed():
            return True
        await asyncio.sleep(0.01)
    return False


def against_an_engine(tmp_path: Path, scenario) -> None:
    """`scenario(engine, seen)` against a new counting server, bounded in time."""

    async def run() -> None:
        server, seen, address = serving(tmp_path)
        try:
            await scenario(Engine(address), seen)
        finally:
            server.stop()

    asyncio.run(asyncio.wait_for(run(), 10))


def test_requests_one_after_another_share_one_connection(tmp_path):
    async def scenario(engine: Engine, seen: Seen) -> None:
        for name in ("first", "second", "third"):
            code, body = await engine.get(f"/{name}")
            assert (code, body) == (200, f'{{"name": "{name}"}}'.encode())
        collected = Collected()
        await engine.fetch("POST", "/made", {"Content-Type": "application/json"}, b"{}", collected)
        assert collected.code == 201
        assert seen.requests == ["GET first", "GET second", "GET third", "POST made {}"]
        assert len(seen.streams) == 1

    against_an_engine(tmp_path, scenario)


def test_a_stale_connection_is_replaced_for_a_read_but_a_change_is_never_sent_twice(tmp_path):
    async def scenario(engine: Engine, seen: Seen) -> None:
        await engine.get("/first")
        seen.streams[0].close()  # the engine restarted, say: the kept connection is dead
        await asyncio.sleep(0)
        assert await engine.get("/again") == (200, b'{"name": "again"}')
        assert len(seen.streams) == 2
        seen.streams[1].close()
        await asyncio.sleep(0)
        with pytest.raises(EngineError, match="broke off"):
            await engine.fetch("POST", "/made", {}, b"{}", Collected())
        assert not [request for request in seen.requests if request.startswith("POST")]

    against_an_engine(tmp_path, scenario)


class HangsUpAfterFirstLine(Collected):
    def data_received(self, chunk: bytes) -> None:
        super().data_received(chunk)
        self.hang_up()


def test_a_caller_who_hangs_up_ends_the_request_to_the_engine(tmp_path):
    async def scenario(engine: Engine, seen: Seen) -> None:
        answer = HangsUpAfterFirstLine()
        with pytest.raises(EngineError):
            await engine.fetch("GET", "/stream", {}, None, answer)
        assert answer.body == b"first line\n"
        assert not engine.idle, "a connection left mid-answer is never used again"
        assert await closed_within(seen.streams[0], seconds=2), "the engine sees the request end"

    against_an_engine(tmp_path, scenario)


def test_an_engine_that_is_not_there_is_a_clear_error(tmp_path):
    async def scenario() -> None:
        with pytest.raises(EngineError, match="cannot connect to the engine at unix://"):
            await Engine(f"unix://{tmp_path}/absent.sock").get("/_ping")

    asyncio.run(asyncio.wait_for(scenario(), 10))
