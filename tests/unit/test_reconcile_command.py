"""The reconcile service's command line: what the hub config writes, `appliance reconcile` reads back."""

import argparse

import pytest

from appliance import reconcile
from appliance.settings import BY_NAME, load


def parsed(command: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    reconcile.add_arguments(parser)
    assert command[1:4] == ["-m", "appliance", "reconcile"]
    return parser.parse_args(command[4:])


@pytest.mark.parametrize(("mode", "unknown"), [("docker", "report"), ("swarm", "remove"), ("system", "report")])
def test_the_command_the_hub_writes_parses_back_to_the_settings(mode, unknown):
    isolation = "off" if mode == "swarm" else "on"
    environ = {"SPAWNER_MODE": mode, "UNKNOWN_CONTAINERS": unknown, "APPLIANCE_INSTANCE": "lab"}
    settings = load({**environ, "USER_NETWORK_ISOLATION": isolation})
    args = parsed(reconcile.command(settings))
    assert (args.instance, args.unknown_containers, args.spawner_mode) == ("lab", unknown, mode)
    assert args.every == reconcile.EVERY_SECONDS


def test_choices_and_defaults_come_from_the_settings():
    args = parsed(["python", "-m", "appliance", "reconcile", "--instance=x", "--api-url=http://127.0.0.1/hub/api"])
    assert args.unknown_containers == BY_NAME["UNKNOWN_CONTAINERS"].literal_default
    assert args.spawner_mode == BY_NAME["SPAWNER_MODE"].literal_default
    with pytest.raises(SystemExit):
        parsed(["python", "-m", "appliance", "reconcile", "--instance=x", "--api-url=u", "--unknown-containers=purge"])
