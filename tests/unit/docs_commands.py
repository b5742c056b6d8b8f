"""The `docker compose …`, `appliance …` and `make …` commands the docs show, checked against the code:
the CLI's parser, the compose files' services and the Makefile's targets."""

import contextlib
import io
import re
import shlex
from pathlib import Path

import yaml

from appliance.cli import build_parser

COMPOSE_SUBCOMMANDS = {
    "build", "config", "cp", "down", "exec", "images", "kill", "logs", "ps", "pull", "restart", "rm", "run",
    "start", "stop", "top", "up", "version",
}  # fmt: skip
# Options of compose subcommands that take a value (the value is not a service).
COMPOSE_VALUE_OPTIONS = {"-u", "--user", "-e", "--env", "--entrypoint", "-w", "--workdir", "--name", "-t", "--timeout"}
CONTROL_TOKENS = {"&&", "||", ";", "|", "&"}
REDIRECTIONS = {">", ">>", "<", "2>", "2>&1"}
COMMAND_START = re.compile(r"^(docker compose|appliance|make)( |$)")
FENCE = re.compile(r"^\s*```")
INLINE_CODE = re.compile(r"`([^`]+)`")


def command_lines(markdown: str) -> list[str]:
    """Lines of fenced code, and inline code spans, that start with one of the checked commands."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        candidates = [line.strip()] if fenced else INLINE_CODE.findall(line)
        for candidate in candidates:
            for segment in segments(candidate.removeprefix("$ ")):
                shown = " ".join(segment)
                # A bare `appliance` or `docker compose` in prose names the tool, not a command.
                if COMMAND_START.match(shown) and len(segment) > (2 if segment[0] == "docker" else 1):
                    lines.append(shown)
    return lines


def segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line, each up to its first redirection; placeholders (…) dropped."""
    try:
        tokens = list(shlex.shlex(line, posix=True, punctuation_chars=True))
    except ValueError:
        return []
    found, current, redirected = [], [], False
    for token in [*tokens, ";"]:
        if token == "#":
            break
        if token in CONTROL_TOKENS:
            found.append(current)
            current, redirected = [], False
        elif token in REDIRECTIONS or "$(" in token:
            redirected = True  # what follows is a file or a substitution, not an argument
        elif not redirected and "…" not in token:
            current.append(token)
    found.append(current)
    return [segment for segment in found if segment]


class ComposeLoader(yaml.SafeLoader):
    """YAML of compose files, whose `!override` and `!reset` tags only the service names need not read."""


ComposeLoader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


class Checker:
    def __init__(self, root: Path):
        self.root = root
        makefile = (root / "Makefile").read_text()
        self.make_targets = set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", makefile, re.MULTILINE))

    def services(self, files: list[str]) -> set[str]:
        names = set()
        for name in files:
            path = self.root / name
            if path.exists():
                names |= set((yaml.load(path.read_text(), Loader=ComposeLoader) or {}).get("services", {}))
        return names

    def problem(self, line: str) -> str | None:
        tokens = line.split(" ")
        if tokens[0] == "make":
            return self.make_problem(tokens[1:])
        if tokens[0] == "appliance":
            return appliance_problem(tokens[1:])
        return self.compose_problem(tokens[2:])

    def make_problem(self, args: list[str]) -> str | None:
        unknown = [arg for arg in args if "=" not in arg and arg not in self.make_targets]
        return f"no make target {', '.join(unknown)}" if unknown else None

    def compose_problem(self, args: list[str]) -> str | None:
        files = []
        while args and args[0].startswith("-"):
            option = args.pop(0)
            if option in ("-f", "--file", "-p", "--project-name", "--env-file") and args:
                value = args.pop(0)
                if option in ("-f", "--file"):
                    if not (self.root / value).exists():
                        return f"no compose file {value}"
                    files.append(value)
        if not args or args[0] not in COMPOSE_SUBCOMMANDS:
            return f"no compose subcommand {args[0] if args else '(none)'}"
        subcommand, rest = args[0], args[1:]
        services = self.services(files or ["docker-compose.yml"])
        positional = []
        while rest:
            token = rest.pop(0)
            if token in COMPOSE_VALUE_OPTIONS:
                rest = rest[1:]
            elif not token.startswith("-"):
                positional = [token, *rest]
                break
        if subcommand in ("exec", "run"):
            return self.command_in_service_problem(subcommand, positional, services)
        unknown = [name for name in positional if name not in services and subcommand not in ("cp", "config")]
        return f"no service {', '.join(unknown)} in {files or ['docker-compose.yml']}" if unknown else None

    def command_in_service_problem(self, subcommand: str, positional: list[str], services: set[str]) -> str | None:
        if not positional:
            return f"compose {subcommand} names no service"
        service, command = positional[0], positional[1:]
        if service not in services:
            return f"no service {service}"
        if subcommand == "run" and service == "hub" and command:
            return appliance_problem(command)  # the hub image's entrypoint is `appliance`
        if command[:1] == ["appliance"]:
            return appliance_problem(command[1:])
        return None


def appliance_problem(args: list[str]) -> str | None:
    with contextlib.redirect_stderr(io.StringIO()) as errors:
        try:
            build_parser().parse_args(args)
        except SystemExit as error:
            if error.code:
                return f"appliance {' '.join(args)}: {errors.getvalue().strip().splitlines()[-1]}"
    return None


def problems(root: Path, pages: list[Path]) -> list[str]:
    """Every shown command that the code does not have, as 'page: command: why'."""
    checker = Checker(root)
    found = []
    for page in pages:
        for line in command_lines(page.read_text()):
            problem = checker.problem(line)
            if problem:
                found.append(f"{page.relative_to(root)}: {line}: {problem}")
    return found


def documentation(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
