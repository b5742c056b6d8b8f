"""`appliance broker`: serve Docker's API to the hub, through the policy (the broker container's command)."""

import logging
import os
import sys

from appliance.broker.instance import refreshing
from appliance.broker.server import BROKER_SOCKET, ENGINE_SOCKET, Broker, Recorder, answers, serve
from appliance.commands.common import EXIT_BAD_CONFIG

HELP = "(the broker container's command) serve the hub's Docker API, letting through only the appliance's work"


def add_arguments(parser) -> None:
    parser.add_argument("--ping", action="store_true", help="exit 0 when a broker answers on its socket (health)")
    parser.add_argument("--record", metavar="FILE", help="append each allowed request to FILE (test fixtures)")


def broker_command(args) -> int:
    if args.ping:
        return 0 if answers(BROKER_SOCKET) else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    try:
        instance = refreshing(os.environ, ENGINE_SOCKET)
    except OSError as error:
        print(f"The Docker broker cannot ask the engine at {ENGINE_SOCKET} for its own container: {error}. "
              "Mount /var/run/docker.sock into the broker container.", file=sys.stderr)  # fmt: skip
        return EXIT_BAD_CONFIG
    serve(Broker(instance, record=Recorder(args.record) if args.record else None))
    return 0
