"""`python -m appliance.broker`: the broker container's command. Serves Docker's API to the hub, letting through only
the appliance's own work. Not a subcommand of `appliance`, so that the broker imports only what it needs."""

import argparse
import logging
import os
import sys

from appliance.broker.unix_http import answers
from appliance.layout import BROKER_SOCKET, ENGINE_SOCKET

EXIT_NO_ENGINE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.broker", description=__doc__.split("\n")[0])
    parser.add_argument("--ping", action="store_true", help="exit 0 when a broker answers on its socket (health)")
    parser.add_argument("--record", metavar="FILE", help="append each allowed request to FILE (test fixtures)")
    args = parser.parse_args(argv)
    if args.ping:
        return 0 if answers(BROKER_SOCKET) else 1
    return run(args.record)


def run(record_to: str | None) -> int:
    # Imported here, so that the health check (--ping) stays a light process.
    from appliance.broker.instance import refreshing
    from appliance.broker.server import Broker, Recorder, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stdout)
    try:
        instance = refreshing(os.environ, ENGINE_SOCKET)
    except OSError as error:
        print(f"The Docker broker cannot ask the engine at {ENGINE_SOCKET} for its own container: {error}. "
              "Mount /var/run/docker.sock into the broker container.", file=sys.stderr)  # fmt: skip
        return EXIT_NO_ENGINE
    serve(lambda: Broker(instance, record=Recorder(record_to) if record_to else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
