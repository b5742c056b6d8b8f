"""Network isolation of each user server (see appliance.network_rules): in place before its first packet,
and applied again to running servers when what the rules are written against changes (the hub's or the
host's addresses, the resolvers, the policy after an upgrade or a change of settings).

A new server's container is created on the user network, then disconnected from it before it starts, so
that it starts with loopback only; the rules are written into its namespace, and only then is it
connected. Code that runs at start (a `jupyter_server_config.py` in a system-mode home) finds no network
until the rules are there.
"""

import asyncio
import hashlib
import time
from typing import ClassVar

import docker.errors
import requests
from traitlets import Bool, List, Unicode

from appliance import docker_host
from appliance.layout import HUB_PORT_INSIDE
from appliance.network_kinds import egress_rule
from appliance.network_rules import (
    NetworkRulesError,
    Policy,
    Surroundings,
    apply_rules,
    ipv4_rules,
    user_network_surroundings,
)
from appliance.spawners.base import SpawnerMixinBase

# How long what the rules are written against (the host's addresses, the hub's) is taken as known.
SURROUNDINGS_SECONDS = 300


class NetworkIsolation(SpawnerMixinBase):
    """A mixin for DockerSpawner. Needs its `docker()`, `engine`, `container_id`, `network_name`, `port`, `report()` and
    `helper_labels()`."""

    network_isolation = Bool(True, config=True, help="Firewall each user server (USER_NETWORK_ISOLATION).")
    user_egress = Unicode("internet", config=True, help="internet, none or all (USER_EGRESS).")
    user_egress_allow = List(Unicode(), config=True, help="CIDR or CIDR:port entries (USER_EGRESS_ALLOW).")

    # The helper image and what the rules are written against, by network, with when it was read: read again
    # once older than SURROUNDINGS_SECONDS, so that a new address of the host (or of the hub) is blocked too.
    _where: ClassVar[dict[str, tuple[float, asyncio.Future]]] = {}
    # A digest of the rules the server got; kept in the spawner's state.
    rules_digest = ""
    # The last check of a running server's rules against the surroundings, made by poll at most that often.
    rules_recheck: asyncio.Future | None = None
    rules_checked_at = 0.0

    async def surroundings(self, network: str) -> tuple[str, Surroundings]:
        known = NetworkIsolation._where
        read_at, _ = known.get(network, (0.0, None))
        if network not in known or time.monotonic() - read_at > SURROUNDINGS_SECONDS:
            reading = asyncio.ensure_future(asyncio.to_thread(self.read_surroundings, network))
            known[network] = time.monotonic(), reading
        try:
            return await known[network][1]
        except NetworkRulesError:
            known.pop(network, None)  # the next spawn asks again
            raise

    def read_surroundings(self, network: str) -> tuple[str, Surroundings]:
        try:
            hub = docker_host.required_own_container(self.engine)
            image = hub.attrs["Image"]
            return image, user_network_surroundings(self.engine, hub, network, image, self.helper_labels())
        except (
            docker.errors.DockerException,
            requests.RequestException,
            KeyError,
            docker_host.NotInAContainer,
        ) as error:
            raise NetworkRulesError(f"could not read the user network {network}: {error!r}") from None

    async def rules_for(self, network: str) -> tuple[str, str]:
        """The helper image, and the rules of this server at its place on `network` as things are now."""
        image, where = await self.surroundings(network)
        policy = Policy(self.user_egress, tuple(egress_rule(entry) for entry in self.user_egress_allow))
        return image, ipv4_rules(policy, where, self.port, HUB_PORT_INSIDE)

    async def isolate_network(self, network: str = "") -> None:
        """Write the rules into the server container's network namespace, for its place on `network`."""
        image, rules = await self.rules_for(network or self.network_name)
        self.report(45, "Applying the network rules")
        await asyncio.to_thread(apply_rules, self.engine, self.container_id, image, rules, self.helper_labels())
        self.rules_digest = digest(rules)
        self.report(50, f"Network rules applied (egress: {self.user_egress})")

    async def hold_off_the_network(self, container_id: str) -> None:
        """Keep the created container off the user network until its rules are in place."""
        await self.docker("disconnect_container_from_network", container_id, self.network_name)

    async def join_the_network(self) -> None:
        """Connect the server, now under its rules, to the user network."""
        await self.docker("connect_container_to_network", self.container_id, self.network_name)
        self.report(55, f"Connected to the network {self.network_name}")

    def rules_recheck_due(self) -> bool:
        running = self.rules_recheck is not None and not self.rules_recheck.done()
        return not running and time.monotonic() - self.rules_checked_at > SURROUNDINGS_SECONDS

    async def check_rules_of_running_server(self) -> None:
        """A running server whose rules were written for other surroundings (the hub or the host has another
        address, or an upgrade changed the rules) gets them anew."""
        self.rules_checked_at = time.monotonic()
        network = await self.network_of_running_server()
        _, rules = await self.rules_for(network)
        if self.rules_digest == digest(rules):
            return
        self.log.warning(
            "The network rules of %s were written for other surroundings (the hub's or the host's addresses, the "
            "resolvers, or an upgrade changed them). Applying them again.",
            self._log_name,
        )
        await self.isolate_network(network)

    async def network_of_running_server(self) -> str:
        """DOCKER_NETWORK, or the network a server from before an upgrade is on (which the hub joined at start)."""
        attached = (await self.docker("inspect_container", self.container_id))["NetworkSettings"]["Networks"]
        return self.network_name if self.network_name in attached or not attached else sorted(attached)[0]

    def get_state(self):
        state = super().get_state()
        if self.rules_digest:
            state["rules_digest"] = self.rules_digest
        return state

    def load_state(self, state):
        super().load_state(state)
        self.rules_digest = state.get("rules_digest", "")

    def clear_state(self):
        super().clear_state()
        self.rules_digest = ""


def digest(rules: str) -> str:
    return hashlib.sha256(rules.encode()).hexdigest()[:16]
