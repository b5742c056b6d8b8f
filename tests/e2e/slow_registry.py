"""A slow way to the test registry, on loopback: it forwards every request, sends blobs at a bounded rate,
and counts the manifest requests by path, so that a test can tell whether an image was pulled once or twice."""

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from harness.compose import free_port
from tests.e2e.registry import REGISTRY_PORT

CHUNK = 64 * 1024
FORWARDED_HEADERS = ("Accept", "Range", "Authorization")


class SlowRegistry:
    def __init__(self, bytes_per_second: int):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.manifest_requests: Counter[str] = Counter()
        self.bytes_per_second = bytes_per_second
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SlowRegistry":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handler_class(self):
        registry = self

        class Forward(BaseHTTPRequestHandler):
            def do_GET(self):
                self.forward("GET")

            def do_HEAD(self):
                self.forward("HEAD")

            def forward(self, method: str) -> None:
                if "/manifests/" in self.path:
                    registry.manifest_requests[f"{method} {self.path}"] += 1
                headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers[name]}
                upstream = requests.request(
                    method,
                    f"http://127.0.0.1:{REGISTRY_PORT}{self.path}",
                    headers=headers,
                    stream=True,
                    allow_redirects=False,
                    timeout=30,
                )
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.items():
                    if name.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.end_headers()
                if method == "GET":
                    self.send_slowly(upstream)

            def send_slowly(self, upstream: requests.Response) -> None:
                slow = "/blobs/" in self.path
                for chunk in upstream.iter_content(CHUNK):
                    self.wfile.write(chunk)
                    if slow:
                        time.sleep(len(chunk) / registry.bytes_per_second)

            def log_message(self, *_):
                pass

        return Forward
