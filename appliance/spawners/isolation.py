"""Network isolation of each user server (see appliance.network_rules): in place before its first packet,
and applied again to running servers when the hub comes back with another address.

A new server's container is created on the user network, then disconnected from it before it starts, so
that it starts with loopback only; the rules are written into its namespace, and only then is it
connected. Code that runs at start (a `jupyter_server_config.py` in a system-mode home) finds no network
until the rules are there.
"""

import asyncio
from typing import ClassVar

import docker.errors
import requests
from traitlets import Bool, List, Unicode
from traitlets.config import LoggingConfigurable

from appliance import docker_host
from appliance.kinds import egress_rule
from appliance.layout import HUB_PORT_INSIDE
from appliance.network_rules import (
    NetworkRulesError,
    Policy,
    Surroundings,
    apply_rules,
    ipv4_rules,
    user_network_surroundings,
)


class NetworkIsolation(LoggingConfigurable):
    """A mixin for DockerSpawner. Needs its `docker()`, `engine`, `container_id`, `network_name`, `port`, `report()` and
    `helper_labels()`."""

    network_isolation = Bool(True, config=True, help="Firewall each user server (USER_NETWORK_ISOLATION).")
    user_egress = Unicode("internet", config=True, help="internet, none or all (USER_EGRESS).")
    user_egress_allow = List(Unicode(), config=True, help="CIDR or CIDR:port entries (USER_EGRESS_ALLOW).")

    # The helper image and what the rules are written against, by network: read once per hub process.
    _where: ClassVar[dict[str, asyncio.Future]] = {}
    # The hub address the server's rules were written for; kept in the spawner's state.
    rules_hub_ip = ""
    # Checked once per hub process, by the first poll that finds the server running.
    rules_recheck: asyncio.Future | None = None

    async def surroundings(self, network: str) -> tuple[str, Surroundings]:
        known = NetworkIsolation._where
        if network not in known:
            known[network] = asyncio.ensure_future(asyncio.to_thread(self.read_surroundings, network))
        try:
            return await known[network]
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

    async def isolate_network(self, network: str = "") -> None:
        """Write the rules into the server container's network namespace, for its place on `network`."""
        image, where = await self.surroundings(network or self.network_name)
        policy = Policy(self.user_egress, tuple(egress_rule(entry) for entry in self.user_egress_allow))
        rules = ipv4_rules(policy, where, self.port, HUB_PORT_INSIDE)
        self.report(45, "Applying the network rules")
        await asyncio.to_thread(apply_rules, self.engine, self.container_id, image, rules, self.helper_labels())
        self.rules_hub_ip = where.hub_ip
        self.report(50, f"Network rules applied (egress: {self.user_egress})")

    async def hold_off_the_network(self, container_id: str) -> None:
        """Keep the created container off the user network until its rules are in place."""
        await self.docker("disconnect_container_from_network", container_id, self.network_name)

    async def join_the_network(self) -> None:
        """Connect the server, now under its rules, to the user network."""
        await self.docker("connect_container_to_network", self.container_id, self.network_name)
        self.report(55, f"Connected to the network {self.network_name}")

    async def check_rules_of_running_server(self) -> None:
        """A running server whose rules name another hub address (or none: an upgrade) gets them anew."""
        network = await self.network_of_running_server()
        _, where = await self.surroundings(network)
        if self.rules_hub_ip == where.hub_ip:
            return
        self.log.warning(
            "The network rules of %s were written for the hub at %s; the hub is at %s now. Applying them again.",
            self._log_name,
            self.rules_hub_ip or "(unknown)",
            where.hub_ip,
        )
        await self.isolate_network(network)

    async def network_of_running_server(self) -> str:
        """DOCKER_NETWORK, or the network a server from before an upgrade is on (which the hub joined at start)."""
        attached = (await self.docker("inspect_container", self.container_id))["NetworkSettings"]["Networks"]
        return self.network_name if self.network_name in attached or not attached else sorted(attached)[0]

    def get_state(self):
        state = super().get_state()
        if self.rules_hub_ip:
            state["rules_hub_ip"] = self.rules_hub_ip
        return state

    def load_state(self, state):
        super().load_state(state)
        self.rules_hub_ip = state.get("rules_hub_ip", "")

    def clear_state(self):
        super().clear_state()
        self.rules_hub_ip = ""
