"""The `appliance` command: run the hub, check the environment, render the docs.

Its subcommands are declared in appliance.commands."""

import argparse
import sys

from appliance import __version__
from appliance.commands import COMMANDS


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=__version__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        subcommand = subcommands.add_parser(command.name, help=command.help)
        command.add_arguments(subcommand)
        subcommand.set_defaults(run=command.run)
    return parser


if __name__ == "__main__":
    sys.exit(main())
