"""The user-network rules as iptables-restore reads them, for each USER_EGRESS policy."""

import asyncio

import pytest

from appliance.helpers.host_view import host_ipv4_addresses, upstream_resolvers
from appliance.network_kinds import EgressRule
from appliance.network_rules import NON_PUBLIC_NETWORKS, Policy, Surroundings, ipv4_rules
from appliance.settings import SettingsError, egress_allow_warning, load
from appliance.spawners import isolation
from appliance.spawners.isolation import NetworkIsolation

WHERE = Surroundings("172.30.0.2", ("172.30.0.0/16",), ("172.30.0.1", "203.0.113.7"), ("10.255.255.53",))
ALWAYS_BLOCKED = ("172.30.0.0/16", "169.254.0.0/16", "172.30.0.1/32", "203.0.113.7/32")


def rules(egress: str, allow=()) -> list[str]:
    return ipv4_rules(Policy(egress, allow), WHERE, server_port=8888, hub_api_port=8081).splitlines()


def position(lines: list[str], rule: str) -> int:
    return lines.index(rule)


@pytest.mark.parametrize("egress", ["internet", "none", "all"])
def test_every_policy_admits_only_the_hub_and_blocks_users_metadata_and_host(egress):
    lines = rules(egress)
    assert lines[:4] == ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT DROP [0:0]"]
    assert "-A INPUT -s 172.30.0.2/32 -p tcp --dport 8888 -j ACCEPT" in lines
    assert [line for line in lines if line.startswith("-A INPUT") and "ACCEPT" in line] == [
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A INPUT -s 172.30.0.2/32 -p tcp --dport 8888 -j ACCEPT",
    ]
    hub_api = position(lines, "-A OUTPUT -d 172.30.0.2/32 -p tcp --dport 8081 -j ACCEPT")
    for blocked in ALWAYS_BLOCKED:
        assert position(lines, f"-A OUTPUT -d {blocked} -j REJECT") > hub_api
    assert lines[-1] == "COMMIT"


def test_internet_blocks_every_non_public_range_then_accepts():
    lines = rules("internet")
    for network in NON_PUBLIC_NETWORKS:
        assert f"-A OUTPUT -d {network} -j REJECT" in lines
    assert lines[-2] == "-A OUTPUT -j ACCEPT"
    assert lines.count("-A OUTPUT -d 169.254.0.0/16 -j REJECT") == 1


def test_none_rejects_everything_else_and_all_accepts_it():
    assert rules("none")[-2] == "-A OUTPUT -j REJECT"
    assert "-A OUTPUT -d 10.0.0.0/8 -j REJECT" not in rules("all")
    assert rules("all")[-2] == "-A OUTPUT -j ACCEPT"


@pytest.mark.parametrize("egress", ["internet", "none", "all"])
def test_no_allow_entry_opens_what_is_always_blocked(egress):
    """Allow lines come after the fixed blocks: a lab that allows every private range and link-local
    still cannot reach other users, the hub's other ports, the metadata address or the host."""
    wide = tuple(EgressRule(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"))
    lines = rules(egress, (*wide, EgressRule("203.0.113.0/24", 443)))
    first_allow = min(position(lines, f"-A OUTPUT -d {rule.network} -j ACCEPT") for rule in wide)
    for blocked in ALWAYS_BLOCKED:
        assert position(lines, f"-A OUTPUT -d {blocked} -j REJECT") < first_allow


def test_allowed_networks_come_before_the_blocks_of_their_policy():
    lines = rules("internet", (EgressRule("10.99.0.0/24"), EgressRule("10.98.0.10/32", 443)))
    allowed = [
        position(lines, "-A OUTPUT -d 10.99.0.0/24 -j ACCEPT"),
        position(lines, "-A OUTPUT -d 10.98.0.10/32 -p tcp --dport 443 -j ACCEPT"),
        position(lines, "-A OUTPUT -d 10.98.0.10/32 -p udp --dport 443 -j ACCEPT"),
    ]
    assert max(allowed) < position(lines, "-A OUTPUT -d 10.0.0.0/8 -j REJECT")
    exam = rules("none", (EgressRule("10.99.0.0/24"),))
    assert position(exam, "-A OUTPUT -d 10.99.0.0/24 -j ACCEPT") < position(exam, "-A OUTPUT -j REJECT")


@pytest.mark.parametrize("egress", ["internet", "all"])
def test_dns_leaves_only_from_dockers_resolver_and_only_to_its_upstreams(egress):
    dns = [line for line in rules(egress) if "--dport 53" in line]
    assert dns == [
        "-A OUTPUT -d 10.255.255.53/32 -m owner --uid-owner 0 -p udp --dport 53 -j ACCEPT",
        "-A OUTPUT -d 10.255.255.53/32 -m owner --uid-owner 0 -p tcp --dport 53 -j ACCEPT",
    ]


def test_exam_mode_resolves_no_name_upstream():
    assert [line for line in rules("none") if "--dport 53" in line] == []


@pytest.mark.parametrize(
    ("environ", "name", "fragment"),
    [
        ({"USER_EGRESS": "open"}, "USER_EGRESS", "must be one of: internet, none, all"),
        ({"USER_EGRESS_ALLOW": "10.0.0.0/33"}, "USER_EGRESS_ALLOW", "these entries are not: 10.0.0.0/33"),
        ({"USER_EGRESS_ALLOW": "lab-server"}, "USER_EGRESS_ALLOW", "these entries are not: lab-server"),
        ({"USER_EGRESS_ALLOW": "10.1.2.3/24"}, "USER_EGRESS_ALLOW", "these entries are not: 10.1.2.3/24"),
        ({"USER_EGRESS_ALLOW": "10.1.2.3"}, "USER_EGRESS_ALLOW", "IPv4 CIDRs"),
        ({"USER_EGRESS_ALLOW": "10.1.2.0/24:70000"}, "USER_EGRESS_ALLOW", "10.1.2.0/24:70000"),
        ({"USER_NETWORK_ISOLATION": "maybe"}, "USER_NETWORK_ISOLATION", "must be one of: on, off"),
        ({"SPAWNER_MODE": "swarm"}, "USER_NETWORK_ISOLATION", "cannot be enforced in swarm mode"),
        ({"USER_NETWORK_ISOLATION": "off", "USER_EGRESS": "none"}, "USER_EGRESS", "needs USER_NETWORK_ISOLATION=on"),
        (
            {"USER_NETWORK_ISOLATION": "off", "USER_EGRESS_ALLOW": "10.0.0.0/8"},
            "USER_EGRESS_ALLOW",
            "needs USER_NETWORK_ISOLATION=on",
        ),
    ],
)
def test_bad_network_settings_name_the_variable(environ, name, fragment):
    with pytest.raises(SettingsError) as caught:
        load(environ)
    assert [problem.name for problem in caught.value.problems] == [name]
    assert fragment in str(caught.value)


def test_allow_entries_parse_to_networks_and_ports():
    allowed = load({"USER_EGRESS_ALLOW": "10.1.0.0/16, 10.2.3.4/32:443"})["USER_EGRESS_ALLOW"]
    assert [str(rule) for rule in allowed] == ["10.1.0.0/16", "10.2.3.4/32:443"]


def test_allow_entries_that_overlap_link_local_are_accepted_with_a_note_and_still_cannot_open_it():
    settings = load({"USER_EGRESS_ALLOW": "0.0.0.0/0:443,10.0.0.0/8,169.254.169.254/32"})
    note = egress_allow_warning(settings)
    assert "USER_EGRESS_ALLOW entries 0.0.0.0/0:443, 169.254.169.254/32 overlap link-local" in note
    lines = rules("none", settings["USER_EGRESS_ALLOW"])
    assert position(lines, "-A OUTPUT -d 169.254.0.0/16 -j REJECT") < position(
        lines, "-A OUTPUT -d 0.0.0.0/0 -p tcp --dport 443 -j ACCEPT"
    )
    assert egress_allow_warning(load({"USER_EGRESS_ALLOW": "10.0.0.0/8"})) is None


def test_the_host_view_keeps_ipv4_upstreams_and_drops_loopback_ones():
    resolv_conf = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver fd00::1\nnameserver 10.0.0.2\n"
    assert upstream_resolvers(resolv_conf) == ["10.0.0.2"]
    assert host_ipv4_addresses({"127.0.0.1", "::1", "::ffff:10.1.1.1", "10.1.1.1"}) == ["10.1.1.1"]


class ReadsCounted(NetworkIsolation):
    """The isolation mixin with the helper's reading replaced by a count of reads."""

    reads = 0

    def read_surroundings(self, network):
        ReadsCounted.reads += 1
        return "hub-image", WHERE


def test_what_the_rules_are_written_against_is_read_again_after_a_while(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(isolation.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(NetworkIsolation, "_where", {})
    spawner = ReadsCounted()

    async def twice():
        await spawner.surroundings("net")
        await spawner.surroundings("net")

    asyncio.run(twice())
    assert ReadsCounted.reads == 1
    clock[0] += isolation.SURROUNDINGS_SECONDS + 1
    asyncio.run(twice())
    assert ReadsCounted.reads == 2
    assert spawner.rules_recheck_due()
    spawner.rules_checked_at = clock[0]
    assert not spawner.rules_recheck_due()
