"""Probes run from inside a user's kernel: which (host, port) pairs it can open a TCP connection to."""

import inspect
import json

from appliance.helpers.reach import reach
from harness.compose import free_port
from harness.hub_client import HubClient, Kernel
from tests.e2e.canaries import CANARY_PORT, INTERNET, METADATA, PRIVATE, PRIVATE_ALLOWED, HostListener

LISTEN = """
import socket, subprocess, sys, time
quiet = {{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}}
listener = subprocess.Popen([sys.executable, "-m", "http.server", "{port}"], **quiet)
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
    # The same probe as `appliance doctor`'s, as source: the user image does not have the appliance package.
    pairs = list(targets.values())
    printed = kernel.run(
        f"import json, socket\n{inspect.getsource(reach)}\nprint(json.dumps([reach(*p) for p in {pairs!r}]))"
    )
    return dict(zip(targets, json.loads(printed), strict=True))


def kernel_of(client: HubClient, notebook: str = "probe.ipynb") -> Kernel:
    client.create_notebook(notebook)
    return client.start_kernel(notebook)


def listen_in(kernel: Kernel, port: int) -> None:
    assert kernel.run(LISTEN.format(port=port)) == "listening"


def reaches_with_host(kernel: Kernel, stack, targets: dict[str, tuple[str, int]]) -> dict[str, str]:
    """As reaches(), plus "the Docker host": a listener on the host at the gateway of the stack's network."""
    [network] = stack.hub_container().attrs["NetworkSettings"]["Networks"].values()
    host = HostListener(network["Gateway"], free_port())
    try:
        return reaches(kernel, {**targets, "the Docker host": (host.address, host.port)})
    finally:
        host.stop()
