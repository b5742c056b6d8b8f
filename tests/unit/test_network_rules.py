"""The user-network rules as iptables-restore reads them, for each USER_EGRESS policy."""

import pytest

from appliance.kinds import EgressRule
from appliance.network_rules import NON_PUBLIC_NETWORKS, Policy, Surroundings, ipv4_rules
from appliance.settings import SettingsError, load

WHERE = Surroundings("172.30.0.2", ("172.30.0.0/16",), ("172.30.0.1", "203.0.113.7"))


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
    for blocked in ("172.30.0.0/16", "169.254.0.0/16", "172.30.0.1/32", "203.0.113.7/32"):
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


def test_allowed_networks_come_before_every_block():
    lines = rules("none", (EgressRule("10.99.0.0/24"), EgressRule("10.98.0.10/32", 443)))
    allowed = [
        position(lines, "-A OUTPUT -d 10.99.0.0/24 -j ACCEPT"),
        position(lines, "-A OUTPUT -d 10.98.0.10/32 -p tcp --dport 443 -j ACCEPT"),
        position(lines, "-A OUTPUT -d 10.98.0.10/32 -p udp --dport 443 -j ACCEPT"),
    ]
    assert max(allowed) < min(i for i, line in enumerate(lines) if line.endswith("-j REJECT"))


def test_dns_is_allowed_only_for_dockers_resolver_running_as_root():
    dns = [line for line in rules("none") if "--dport 53" in line]
    assert dns == [
        "-A OUTPUT -m owner --uid-owner 0 -p udp --dport 53 -j ACCEPT",
        "-A OUTPUT -m owner --uid-owner 0 -p tcp --dport 53 -j ACCEPT",
    ]


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
