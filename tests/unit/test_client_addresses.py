"""The client address a tornado server (as JupyterHub runs it) sees, with forwarded headers from whom."""

import asyncio
import http.client
import socket
import threading

import pytest
from tornado import httpserver, netutil, web
from tornado.httpserver import _HTTPRequestContext

from appliance.client_addresses import own_addresses, trust_forwarded_headers_only_from

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
     |-- 172.24.0.2
        /32 host LOCAL
     |-- 172.24.255.255
        /32 link BROADCAST
     |-- 198.51.100.1
        /32 host LOCAL
        /32 host LOCAL
     +-- 198.51.100.0/24 2 0 2
        /24 link UNICAST
"""


class RemoteIp(web.RequestHandler):
    def get(self):
        self.write(self.request.remote_ip)


@pytest.fixture
def hub_like_server():
    """A tornado server on loopback with xheaders on, as JupyterHub serves; yields a function asking it."""
    original = _HTTPRequestContext._apply_xheaders
    [sock] = netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    running, holder = threading.Event(), {}

    async def serve():
        # As JupyterHub runs it in the appliance: trusted_downstream is the hub container's own addresses.
        trusted = {"127.0.0.1", "::ffff:127.0.0.1"}
        app = web.Application([("/", RemoteIp)])
        httpserver.HTTPServer(app, xheaders=True, trusted_downstream=trusted).add_sockets([sock])
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        running.set()
        await holder["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert running.wait(10)

    def remote_ip_for(headers: dict[str, str]) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=10)
        connection.request("GET", "/", headers=headers)
        return connection.getresponse().read().decode()

    yield remote_ip_for
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)
    _HTTPRequestContext._apply_xheaders = original


SPOOFED = {"X-Real-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.10, 198.51.100.7"}


def test_stock_tornado_believes_a_spoofed_x_real_ip(hub_like_server):
    assert hub_like_server(SPOOFED) == "203.0.113.9"


def test_a_peer_that_is_not_an_own_proxy_is_seen_as_itself(hub_like_server):
    trust_forwarded_headers_only_from({"192.0.2.250"})
    assert hub_like_server(SPOOFED) == "127.0.0.1"


def test_from_an_own_proxy_x_real_ip_is_ignored_and_the_address_it_appended_counts(hub_like_server):
    trust_forwarded_headers_only_from({"127.0.0.1"})
    assert hub_like_server(SPOOFED) == "198.51.100.7"


def test_behind_two_own_proxies_the_client_before_them_counts(hub_like_server):
    # HTTPS: Caddy writes the client, the proxy appends Caddy's loopback address, as Node writes it.
    trust_forwarded_headers_only_from({"127.0.0.1"})
    assert hub_like_server({"X-Forwarded-For": "198.51.100.7, ::ffff:127.0.0.1"}) == "198.51.100.7"


def test_own_addresses_are_the_local_routes_and_loopback(tmp_path):
    fib_trie = tmp_path / "fib_trie"
    fib_trie.write_text(FIB_TRIE)
    # An address with two entries (as a veth's can have) is one address, and no word is taken for one.
    ipv4 = {"127.0.0.1", "172.24.0.2", "198.51.100.1"}
    assert own_addresses(fib_trie) == ipv4 | {f"::ffff:{address}" for address in ipv4} | {"::1"}
