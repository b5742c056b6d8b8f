"""Probes run from inside a user's kernel: which (host, port) pairs it can open a TCP connection to."""

import json

from tests.e2e.canaries import CANARY_PORT, INTERNET, METADATA, PRIVATE, PRIVATE_ALLOWED
from tests.e2e.hub_client import HubClient, Kernel

PROBE = """
import json, socket
def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "open"
    except socket.timeout:
        return "timed out"
    except OSError as error:
        return error.strerror or type(error).__name__
print(json.dumps([reach(host, port) for host, port in TARGETS]))
"""
LISTEN = """
import socket, subprocess, sys, time
listener = subprocess.Popen([sys.executable, "-m", "http.server", "{port}"])
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
print("listening")
"""
OUTSIDE = {
    "internet": (INTERNET, CANARY_PORT),
    "metadata": (METADATA, CANARY_PORT),
    "private": (PRIVATE, CANARY_PORT),
    "allowed private": (PRIVATE_ALLOWED, CANARY_PORT),
}


def reaches(kernel: Kernel, targets: dict[str, tuple[str, int]]) -> dict[str, str]:
    """What the kernel got for each named target: "open", or why not ("Connection refused", "timed out")."""
    printed = kernel.run(f"TARGETS = {list(targets.values())!r}\n{PROBE}")
    return dict(zip(targets, json.loads(printed), strict=True))


def opened(kernel: Kernel, targets: dict[str, tuple[str, int]]) -> set[str]:
    return {name for name, outcome in reaches(kernel, targets).items() if outcome == "open"}


def kernel_of(client: HubClient, notebook: str = "probe.ipynb") -> Kernel:
    client.create_notebook(notebook)
    return client.start_kernel(notebook)


def listen_in(kernel: Kernel, port: int) -> None:
    assert kernel.run(LISTEN.format(port=port)) == "listening"
