"""The broker's side of the engine: HTTP/1.1 requests over connections it keeps open between requests.

Tornado's own HTTP client opens a new connection for every request, which cost about a millisecond per Docker call
(a spawn makes dozens). Here Tornado's HTTP/1.1 protocol code (`HTTP1Connection`, client mode) runs on streams the
broker keeps: a stream goes back to the pool after a complete answer and is used again within IDLE_SECONDS.
"""

import socket
import time
from urllib.parse import urlsplit

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

# A kept connection older than this is closed rather than used: the engine may have gone away in between.
IDLE_SECONDS = 30.0
MAX_IDLE_CONNECTIONS = 16
CONNECT_SECONDS = 10.0
# Streams (logs, pulls, events) may run for long; Docker's own clients set their timeouts.
NO_BODY_LIMIT = 2**62
CHUNK_BYTES = 64 * 1024
# A request that fails on a kept connection before any answer is tried once more on a new one, if it changes nothing.
RETRIED_METHODS = {"GET", "HEAD"}


class EngineError(OSError):
    """The engine could not be reached, or its answer broke off."""


class Engine:
    """The engine at `address` (unix://PATH, or http://HOST:PORT for the tests' fake engine)."""

    def __init__(self, address: str):
        self.address_text = address
        self.address = urlsplit(address)
        self.host = "docker" if self.address.scheme == "unix" else self.address.netloc
        self.idle: list[tuple[IOStream, float]] = []

    async def fetch(self, method: str, uri: str, headers: dict[str, str], body: bytes | None, answer: "Answer") -> None:
        """Send one request and hand the answer, as it arrives, to `answer`."""
        stream, reused = await self.connection()
        try:
            await self.exchange(stream, method, uri, headers, body, answer)
        except EngineError:
            if not (reused and method in RETRIED_METHODS and not answer.answered):
                raise
            await self.exchange(await self.connect(), method, uri, headers, body, answer)

    async def get(self, uri: str) -> tuple[int, bytes]:
        """A whole answer, for the broker's own look-ups."""
        collected = Collected()
        await self.fetch("GET", uri, {}, None, collected)
        return collected.code, bytes(collected.body)

    async def exchange(self, stream: IOStream, method: str, uri: str, headers: dict[str, str], body: bytes | None,
                       answer: "Answer") -> None:  # fmt: skip
        """One request and its whole answer on `stream`, kept afterwards if the engine keeps it open."""
        answer.upstream = stream
        try:
            await self.request_and_answer(stream, method, uri, headers, body, answer)
        except (StreamClosedError, httputil.HTTPInputError) as error:
            stream.close()
            raise EngineError(f"the engine's answer broke off: {error or 'connection closed'}") from error
        if answer.reusable and not stream.closed():
            self.keep(stream)
        else:
            stream.close()

    async def request_and_answer(self, stream: IOStream, method: str, uri: str, headers: dict[str, str],
                                 body: bytes | None, answer: "Answer") -> None:  # fmt: skip
        protocol = HTTP1Connection(stream, True, HTTP1ConnectionParameters(chunk_size=CHUNK_BYTES, decompress=False,
                                                                           max_body_size=NO_BODY_LIMIT))  # fmt: skip
        outgoing = httputil.HTTPHeaders({**headers, "Host": self.host})
        if body is not None:
            outgoing["Content-Length"] = str(len(body))
        await protocol.write_headers(httputil.RequestStartLine(method, uri, "HTTP/1.1"), outgoing)
        if body:
            await protocol.write(body)
        protocol.finish()
        await protocol.read_response(answer)
        if not answer.complete:
            raise StreamClosedError()

    async def connection(self) -> tuple[IOStream, bool]:
        """A kept stream to the engine if one is fresh enough, else a new one; and whether it was kept."""
        now = time.monotonic()
        while self.idle:
            stream, since = self.idle.pop()
            if now - since < IDLE_SECONDS and not stream.closed():
                return stream, True
            stream.close()
        return await self.connect(), False

    async def connect(self) -> IOStream:
        try:
            if self.address.scheme == "unix":
                stream = IOStream(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                return await stream.connect(self.address.path)
            return await TCPClient().connect(self.address.hostname or "127.0.0.1", self.address.port or 80,
                                             timeout=CONNECT_SECONDS)  # fmt: skip
        except (OSError, StreamClosedError) as error:
            reason = getattr(error, "real_error", None) or error
            raise EngineError(f"cannot connect to the engine at {self.address_text}: {reason}") from error

    def keep(self, stream: IOStream) -> None:
        if len(self.idle) < MAX_IDLE_CONNECTIONS:
            self.idle.append((stream, time.monotonic()))
        else:
            stream.close()


class Answer(httputil.HTTPMessageDelegate):
    """An answer of the engine as it arrives; `hang_up` drops the request (the caller went away)."""

    def __init__(self) -> None:
        self.answered = False
        self.complete = False
        self.reusable = False
        self.upstream: IOStream | None = None

    def headers_received(self, start_line, headers: httputil.HTTPHeaders) -> None:
        self.answered = True
        self.reusable = start_line.version == "HTTP/1.1" and headers.get("Connection", "").lower() != "close"
        self.started(start_line, headers)

    def finish(self) -> None:
        self.complete = True

    def started(self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders) -> None:
        """The status line and headers."""

    def hang_up(self) -> None:
        if self.upstream is not None:
            self.upstream.close()


class Collected(Answer):
    """An answer read whole."""

    def __init__(self) -> None:
        super().__init__()
        self.code = 0
        self.body = bytearray()

    def started(self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders) -> None:
        self.code = start_line.code

    def data_received(self, chunk: bytes) -> None:
        self.body.extend(chunk)
