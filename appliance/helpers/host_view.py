"""Run in the Docker host's network namespace: print the host's IPv4 addresses and upstream DNS servers as JSON.

The engine gives a container on the host network the resolv.conf whose servers its embedded resolver
forwards to (the host's, or the daemon's --dns); loopback servers are dropped, as Docker drops them.
"""

import ipaddress
import json
from pathlib import Path

from appliance.client_addresses import own_addresses

RESOLV_CONF = Path("/etc/resolv.conf")


def host_ipv4_addresses(addresses: set[str]) -> list[str]:
    return sorted(a for a in addresses if ":" not in a and not a.startswith("127."))


def upstream_resolvers(resolv_conf: str) -> list[str]:
    """The IPv4 `nameserver` lines that are not loopback, in their order."""
    found = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                address = ipaddress.ip_address(fields[1])
            except ValueError:
                continue
            if address.version == 4 and not address.is_loopback:
                found.append(str(address))
    return list(dict.fromkeys(found))


def main() -> None:
    resolv_conf = RESOLV_CONF.read_text() if RESOLV_CONF.exists() else ""
    view = {"addresses": host_ipv4_addresses(own_addresses()), "resolvers": upstream_resolvers(resolv_conf)}
    print(json.dumps(view))


if __name__ == "__main__":
    main()
