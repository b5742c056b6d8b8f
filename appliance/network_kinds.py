"""The value kinds of the network settings: addresses, and the egress allow list's networks and ports."""

import ipaddress
from dataclasses import dataclass

from appliance.kinds import Invalid, NameList


@dataclass(frozen=True)
class EgressRule:
    """An IPv4 network that user servers may reach, on every port or on one TCP/UDP port."""

    network: str
    port: int | None = None

    def __str__(self) -> str:
        return self.network if self.port is None else f"{self.network}:{self.port}"


@dataclass(frozen=True)
class EgressRules:
    """A comma-separated list of IPv4 CIDRs, each optionally with :port, such as 10.1.2.0/24,10.1.3.4/32:443."""

    @property
    def allowed(self) -> str:
        return "comma-separated IPv4 CIDRs, each optionally with :port, such as 10.1.2.0/24,10.1.3.4/32:443"

    def __call__(self, raw: str) -> tuple[EgressRule, ...]:
        rules, misfits = [], []
        for entry in NameList(self.allowed)(raw):
            try:
                rules.append(egress_rule(entry))
            except ValueError:
                misfits.append(entry)
        if misfits:
            raise Invalid(f"must be {self.allowed}; these entries are not: {', '.join(misfits)}")
        return tuple(rules)


def egress_rule(entry: str) -> EgressRule:
    """Parse CIDR or CIDR:port strictly: a prefix length is required, host bits must be zero."""
    network, _, port = entry.partition(":")
    if "/" not in network:
        raise ValueError(entry)
    parsed = ipaddress.IPv4Network(network, strict=True)
    if not port:
        return EgressRule(str(parsed))
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(entry)
    return EgressRule(str(parsed), int(port))


@dataclass(frozen=True)
class IpAddress:
    """An IPv4 or IPv6 address, such as 0.0.0.0 (every interface) or 127.0.0.1 (loopback only)."""

    @property
    def allowed(self) -> str:
        return "an IP address of the host, such as 0.0.0.0 (every interface) or 127.0.0.1 (loopback only)"

    def __call__(self, raw: str) -> str:
        try:
            return str(ipaddress.ip_address(raw))
        except ValueError:
            raise Invalid(f"must be {self.allowed}") from None
