"""Which client address the hub sees and logs: forwarded headers count only from the appliance's own proxies.

Clients reach the hub through configurable-http-proxy (and Caddy in front of it with HTTPS), all in the
hub's own container; user servers also call the hub's API directly. Tornado, which serves JupyterHub,
believes X-Real-Ip and X-Forwarded-For from any peer, and X-Real-Ip even over X-Forwarded-For, which the
proxies append to but never set. So here: headers from a peer that is not one of this container's own
addresses are ignored, X-Real-Ip is ignored from every peer, and X-Forwarded-For is read past the own
addresses (Caddy's hop to the proxy is one), as tornado's `trusted_downstream` does.
"""

import re
from pathlib import Path

from tornado import httputil
from tornado.httpserver import _HTTPRequestContext

LOCAL_ROUTES = Path("/proc/net/fib_trie")
# A node of the routing trie ("|-- 172.24.0.2"); the entries below it ("/32 host LOCAL", …) belong to it.
ADDRESS_NODE = re.compile(r"\|--\s+(\d+\.\d+\.\d+\.\d+)")


def own_addresses(fib_trie: Path = LOCAL_ROUTES) -> set[str]:
    """This network namespace's own addresses, from its routing table: each IPv4 address also in the
    IPv6-mapped form in which Node (configurable-http-proxy) writes it into X-Forwarded-For."""
    found = {"127.0.0.1"}
    address = None
    for line in fib_trie.read_text().splitlines():
        node = ADDRESS_NODE.fullmatch(line.strip())
        if node:
            address = node.group(1)
        elif line.strip() == "/32 host LOCAL" and address:
            found.add(address)
    return found | {f"::ffff:{address}" for address in found} | {"::1"}


def trust_forwarded_headers_only_from(proxies: set[str]) -> None:
    """Patch tornado's header handling for this process (the hub's): see the module's docstring."""
    apply_headers = _HTTPRequestContext._apply_xheaders

    def apply_headers_of_own_proxies(context: _HTTPRequestContext, headers: httputil.HTTPHeaders) -> None:
        if context.remote_ip not in proxies:
            return
        forwarded = httputil.HTTPHeaders(headers)
        if "X-Real-Ip" in forwarded:
            del forwarded["X-Real-Ip"]
        apply_headers(context, forwarded)

    # Replacing tornado's method is the point (its headers are trusted from our proxies only).
    _HTTPRequestContext._apply_xheaders = apply_headers_of_own_proxies  # type: ignore[method-assign,assignment]
