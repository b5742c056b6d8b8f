"""The user-network policy: what a user server may send and accept, how it is applied, how it is checked.

A user server accepts connections only from the hub, on its server port, and sends only to the hub's
API, to Docker's DNS and to what USER_EGRESS and USER_EGRESS_ALLOW allow; other user servers, the
hub's other ports, link-local addresses (cloud metadata) and every address of the Docker host are
always blocked, and IPv6 carries nothing but loopback. The order of the rules says so: those blocks
come before every allow line, so no USER_EGRESS_ALLOW entry, however wide, opens them.

DNS: names go to Docker's embedded resolver (127.0.0.11, on loopback), which asks the daemon's upstream
resolvers from the server's namespace as root. Only that may leave on port 53, and only to those
resolvers; under USER_EGRESS=none nothing does, so only the names of containers resolve.

The rules live in each user container's own network namespace. A short-lived helper container (the
hub's own image, which the appliance controls) joins that namespace with NET_ADMIN as its only
capability and replaces the filter table with `iptables-restore`, leaving Docker's DNS rules (nat
table) alone. The user container holds no capability, so code in it cannot change them, and the
hub gains none.
"""

import json
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import docker
import docker.errors
import requests

from appliance import docker_host
from appliance.helpers import HOST_VIEW_ENTRYPOINT, RULES_ENTRYPOINT
from appliance.labels import LABEL_INSTANCE
from appliance.layout import HUB_PORT_INSIDE, HUB_SERVICE_NAME, SERVER_PORT_INSIDE
from appliance.network_kinds import EgressRule

# Not reachable under USER_EGRESS=internet: RFC 1918, shared (RFC 6598), link-local, loopback,
# "this network", IETF protocol assignments, benchmarking, multicast and reserved space.
NON_PUBLIC_NETWORKS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
LINK_LOCAL = "169.254.0.0/16"
IPV6_RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A OUTPUT -o lo -j ACCEPT
COMMIT
"""
# Docker's upstream resolvers when the host's resolv.conf names none but loopback ones.
DOCKER_DEFAULT_RESOLVERS = ("8.8.8.8", "8.8.4.4")
HELPER_SECONDS = 30


class NetworkRulesError(RuntimeError):
    """The rules could not be applied; the message says why, in the helper's own words."""


@dataclass(frozen=True)
class Policy:
    egress: str  # internet, none or all (USER_EGRESS)
    allow: tuple[EgressRule, ...] = ()  # USER_EGRESS_ALLOW


@dataclass(frozen=True)
class Surroundings:
    """What the rules are written against: the hub, the user network, and the Docker host."""

    hub_ip: str
    user_subnets: tuple[str, ...]
    host_addresses: tuple[str, ...]
    resolvers: tuple[str, ...] = ()  # the daemon's upstream DNS servers (IPv4)


def ipv4_rules(policy: Policy, where: Surroundings, server_port: int, hub_api_port: int) -> str:
    """The filter table of one user server, as iptables-restore reads it."""
    blocked = always_blocked(where)
    by_policy = [n for n in NON_PUBLIC_NETWORKS if n not in blocked] if policy.egress == "internet" else []
    lines = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A INPUT -s {where.hub_ip}/32 -p tcp --dport {server_port} -j ACCEPT",
        "-A OUTPUT -o lo -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A OUTPUT -d {where.hub_ip}/32 -p tcp --dport {hub_api_port} -j ACCEPT",
        *upstream_dns_lines(policy.egress, where.resolvers),
        *reject_lines(blocked),
        *allow_lines(policy.allow),
        *reject_lines(by_policy),
        "-A OUTPUT -j REJECT" if policy.egress == "none" else "-A OUTPUT -j ACCEPT",
        "COMMIT",
        "",
    ]
    return "\n".join(lines)


def allow_lines(allowed: Iterable[EgressRule]) -> list[str]:
    lines = []
    for rule in allowed:
        ports = [f"-p {proto} --dport {rule.port} " for proto in ("tcp", "udp")] if rule.port else [""]
        lines += [f"-A OUTPUT -d {rule.network} {port}-j ACCEPT" for port in ports]
    return lines


def upstream_dns_lines(egress: str, resolvers: Iterable[str]) -> list[str]:
    """Docker's resolver (root, in this namespace) asking its upstream servers; nothing at all under `none`."""
    if egress == "none":
        return []
    return [
        f"-A OUTPUT -d {resolver}/32 -m owner --uid-owner 0 -p {proto} --dport 53 -j ACCEPT"
        for resolver in resolvers
        for proto in ("udp", "tcp")
    ]


def always_blocked(where: Surroundings) -> list[str]:
    """Other user servers and the hub's other ports, link-local (cloud metadata), every address of the host."""
    return list(dict.fromkeys([*where.user_subnets, LINK_LOCAL, *(f"{a}/32" for a in where.host_addresses)]))


def reject_lines(networks: Iterable[str]) -> list[str]:
    # Refused at once (not dropped), so that code in a kernel learns quickly that it may not go there.
    return [f"-A OUTPUT -d {network} -j REJECT" for network in networks]


def run_helper(engine: docker.DockerClient, options: dict, command: list[str], **environment: str) -> str:
    """Run a helper to its end; return what it printed, or raise NetworkRulesError with what it said."""
    try:
        status, stdout, stderr = docker_host.run_to_end(
            engine, HELPER_SECONDS, entrypoint=command, environment=environment, **options
        )
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise NetworkRulesError(f"the helper container could not run: {error}") from None
    if status != 0:
        raise NetworkRulesError(f"the helper exited with {status}: {stderr or stdout or '(no output)'}")
    return stdout


def apply_rules(engine: docker.DockerClient, container_id: str, image: str, ipv4: str, labels: dict[str, str]):
    """Replace the filter tables in the network namespace of the container `container_id`."""
    write_rules(engine, f"container:{container_id}", image, ipv4, labels)


def check_rules_can_be_applied(engine: docker.DockerClient, image: str, labels: dict[str, str]) -> None:
    """Apply a full rule set in a helper's own empty namespace: the same tools and kernel modules as for real."""
    sample = ipv4_rules(
        Policy("internet", (EgressRule("10.0.0.0/8", 443),)),
        Surroundings("192.0.2.2", ("192.0.2.0/24",), ("192.0.2.1",), ("192.0.2.53",)),
        server_port=SERVER_PORT_INSIDE,
        hub_api_port=HUB_PORT_INSIDE,
    )
    write_rules(engine, "none", image, sample, labels)


def write_rules(engine: docker.DockerClient, network_mode: str, image: str, ipv4: str, labels: dict[str, str]):
    options = {
        **docker_host.helper_options(image, labels),
        "network_mode": network_mode,
        "user": "0",
        "cap_add": ["NET_ADMIN"],
    }
    run_helper(engine, options, RULES_ENTRYPOINT, IPV4_RULES=ipv4, IPV6_RULES=IPV6_RULES)


@dataclass(frozen=True)
class HostView:
    """What an unprivileged helper in the host's network namespace reads: the host's IPv4 addresses, and
    the DNS servers the engine gives such a container, which are the upstreams of its embedded resolver."""

    addresses: tuple[str, ...]
    resolvers: tuple[str, ...]


def read_host_view(engine: docker.DockerClient, image: str, labels: dict[str, str]) -> HostView:
    options = {**docker_host.helper_options(image, labels), "network_mode": "host", "user": "65534:65534"}
    printed = json.loads(run_helper(engine, options, HOST_VIEW_ENTRYPOINT))
    return HostView(tuple(printed["addresses"]), tuple(printed["resolvers"]) or DOCKER_DEFAULT_RESOLVERS)


def user_network_surroundings(engine: docker.DockerClient, hub, network: str, image: str, labels) -> Surroundings:
    """The hub's address on the user network, that network's IPv4 subnets, the host's addresses and resolvers."""
    hub_ip = hub.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    config = engine.networks.get(network).attrs["IPAM"]["Config"] or []
    subnets = tuple(entry["Subnet"] for entry in config if ":" not in entry.get("Subnet", ":"))
    host = read_host_view(engine, image, labels)
    return Surroundings(hub_ip, subnets, host.addresses, host.resolvers)


def check_on_this_host(instance: str) -> None:
    """At hub start, fail closed: raise NetworkRulesError when the rules cannot be applied here."""
    try:
        engine = docker_host.client()
        image = docker_host.own_image(engine)
    except (docker.errors.DockerException, requests.RequestException, docker_host.NotInAContainer) as error:
        raise NetworkRulesError(f"Docker cannot be asked ({error})") from None
    check_rules_can_be_applied(engine, image, {LABEL_INSTANCE: instance})


def cannot_isolate_message(reason: str) -> str:
    return (
        f"USER_NETWORK_ISOLATION=on, but the network rules of user servers cannot be applied on this host: {reason}. "
        "They need the kernel's netfilter support (iptables filter, conntrack and owner matches, for IPv4 and IPv6) "
        "and a Docker engine that can give a helper container NET_ADMIN (rootless Docker cannot). Fix the host, or "
        "set USER_NETWORK_ISOLATION=off to run without isolation, knowing that user servers can then reach each "
        "other, every port of the hub, the Docker host and the cloud metadata address."
    )


ISOLATION_OFF_WARNING = (
    "WARNING: USER_NETWORK_ISOLATION=off: user servers are not firewalled. Code in any user's server can reach "
    "the other users' servers, every port of the hub, the Docker host and the cloud metadata address "
    "(169.254.169.254). Set USER_NETWORK_ISOLATION=on (docker and system mode) to close this."
)


CANARY_PORT = 9999
METADATA = ("169.254.169.254", 80)


@dataclass(frozen=True)
class ProbeResult:
    """What a probe under a user server's rules reached ("open", or why not)."""

    canary_listens: bool  # the canary answered the hub, so that a refusal from the probe is not vacuous
    hub_api: str
    other_container: str
    metadata: str

    @property
    def holds(self) -> bool:
        return self.canary_listens and self.hub_api == "open" and "open" not in (self.other_container, self.metadata)

    def __str__(self) -> str:
        return (
            f"hub API: {self.hub_api}; another container on the network: {self.other_container}; "
            f"{METADATA[0]}: {self.metadata}"
        )


def probe_rules(engine: docker.DockerClient, hub, network: str, policy: Policy, labels: dict[str, str]) -> ProbeResult:
    """Probe for real from a throwaway container on the user network, under a user server's rules,
    against the hub's API, a canary listening on another container there, and the metadata address."""
    image = hub.attrs["Image"]
    options = {**docker_host.helper_options(image, labels), "network": network, "user": "65534:65534"}
    listen = ["python3", "-m", "http.server", str(CANARY_PORT)]
    try:
        with (
            docker_host.throwaway(engine, entrypoint=listen, **options) as canary,
            docker_host.throwaway(engine, entrypoint=["sleep", str(HELPER_SECONDS)], **options) as probe,
        ):
            where = user_network_surroundings(engine, hub, network, image, labels)
            apply_rules(engine, probe.id, image, ipv4_rules(policy, where, SERVER_PORT_INSIDE, HUB_PORT_INSIDE), labels)
            canary.reload()
            canary_ip = canary.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            targets = [(HUB_SERVICE_NAME, HUB_PORT_INSIDE), (canary_ip, CANARY_PORT), METADATA]
            reach = ["python3", "-m", "appliance.helpers.reach", json.dumps(targets)]
            return ProbeResult(listens(canary_ip, CANARY_PORT), *json.loads(reach_from(engine, probe, reach, options)))
    except (docker.errors.DockerException, requests.RequestException, ValueError) as error:
        raise NetworkRulesError(f"the probe could not run: {error}") from None


def reach_from(engine: docker.DockerClient, probe, command: list[str], options: dict) -> str:
    """Run `command` in the probe's network namespace (so under its rules), in a helper of its own: no exec."""
    joined = {**{k: v for k, v in options.items() if k != "network"}, "network_mode": f"container:{probe.id}"}
    return run_helper(engine, joined, command)


def listens(host: str, port: int, seconds: float = 10) -> bool:
    """Whether host:port accepts a connection within `seconds` (the canary takes a moment to start)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False
