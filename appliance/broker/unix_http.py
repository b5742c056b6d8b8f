"""Plain HTTP over a unix socket, with the standard library: the broker asking the engine for its own container,
and the hub (or a health check) asking whether a broker answers. Light on purpose: the hub imports it at start."""

import http.client
import json
import socket
import time
from collections.abc import Callable


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def get(path: str, url_path: str, seconds: float) -> tuple[int, bytes]:
    """GET url_path from the HTTP server on the unix socket at path: its status and body."""
    connection = UnixConnection(path, seconds)
    try:
        connection.request("GET", url_path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def get_json(path: str, url_path: str, seconds: float) -> dict:
    status, body = get(path, url_path, seconds)
    if status != 200:
        raise OSError(f"the engine answered {status} to GET {url_path}")
    return json.loads(body)


def answers(path: str, seconds: float = 2.0) -> bool:
    """Whether something answers Docker's ping on this socket."""
    try:
        return get(path, "/_ping", seconds)[0] == 200
    except OSError:
        return False


def wait_until_answering(path: str, seconds: float, say: Callable[[str], None]) -> bool:
    """Wait for the broker (it may start after the hub), saying so once; False if it never answered."""
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
