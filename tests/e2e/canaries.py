"""Canaries that stand for the outside world: listeners in a network namespace this run creates.

One namespace, joined to the host by a veth pair, holds an "internet" address (198.51.100.10, a
documentation range), the cloud metadata address (169.254.169.254) and two private ones; the host
routes each of them into it. Each address listens on the canary port and on TCP port 53 (DNS). A
container on a Docker bridge reaches them through the host's routing, as it would reach the real ones.
(A container on a second Docker network would not do: Docker itself drops traffic between its bridges,
whatever the appliance does.) Everything is removed afterwards.
"""

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

NAMESPACE_PREFIX = "jh-canary-"
VETH_PREFIX = "jhc"  # the host end of the pair; its peer in the namespace adds "n"
CANARY_PORT = 8080
DNS_PORT = 53
HOST_SIDE = "198.51.100.1"
INTERNET = "198.51.100.10"
METADATA = "169.254.169.254"
PRIVATE = "10.99.0.10"
PRIVATE_ALLOWED = "10.98.0.10"
ROUTED = (METADATA, PRIVATE, PRIVATE_ALLOWED)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Canaries:
    namespace: str
    veth: str
    listeners: list[subprocess.Popen] = field(default_factory=list)

    def create(self) -> "Canaries":
        sweep_earlier_canaries()
        self.remove()
        inside = f"{self.veth}n"
        ip("netns", "add", self.namespace)
        ip("link", "add", self.veth, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", self.namespace)
        ip("addr", "add", f"{HOST_SIDE}/24", "dev", self.veth)
        ip("link", "set", self.veth, "up")
        inns = ("netns", "exec", self.namespace, "ip")
        ip(*inns, "addr", "add", f"{INTERNET}/24", "dev", inside)
        for address in ROUTED:
            ip(*inns, "addr", "add", f"{address}/32", "dev", inside)
            ip("route", "add", f"{address}/32", "via", INTERNET)
        ip(*inns, "link", "set", inside, "up")
        ip(*inns, "link", "set", "lo", "up")
        ip(*inns, "route", "add", "default", "via", HOST_SIDE)
        for port in (CANARY_PORT, DNS_PORT):
            listen = [sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0"]
            self.listeners.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.namespace, *listen],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_listener(INTERNET, port)
        return self

    def remove(self) -> None:
        for listener in self.listeners:
            listener.terminate()
            listener.wait(timeout=10)
        self.listeners.clear()
        for address in ROUTED:
            subprocess.run(["ip", "route", "del", f"{address}/32", "via", INTERNET], capture_output=True)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


def sweep_earlier_canaries() -> None:
    """Remove what an interrupted earlier run left: its namespaces with the listeners that keep them alive, and a
    host end of a veth pair whose namespace lives on unnamed (its routes would lead there, where nothing listens)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for name in listed:
        if name.startswith(NAMESPACE_PREFIX):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            subprocess.run(["kill", *pids], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
    links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(VETH_PREFIX):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


class HostListener:
    """A listener on the Docker host itself, bound to one of its addresses (a bridge's gateway, say)."""

    def __init__(self, address: str, port: int):
        self.address, self.port = address, port
        command = [sys.executable, "-m", "http.server", str(port), "--bind", address]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_listener(address, port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wait_for_listener(address: str, port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no canary listens on {address}:{port} after {seconds} s")
