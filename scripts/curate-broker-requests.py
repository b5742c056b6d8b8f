#!/usr/bin/env python3
"""Turn the broker's recordings (BROKER_RECORD_DIR of an e2e run) into the policy's unit-test fixtures.

Each recording is one stack: the instance the broker served, then each request it let through. Requests that
differ only in object ids, the API version or environment values are kept once, as first recorded, and each file
is named after its mode: tests/unit/broker_requests/{docker,system,swarm}-NN.jsonl, numbered after those there.

    BROKER_RECORD_DIR=/tmp/rec .venv/bin/python -m pytest -m e2e tests/e2e/test_….py
    scripts/curate-broker-requests.py /tmp/rec tests/unit/broker_requests
"""

import json
import re
import sys
from pathlib import Path

IDS = re.compile(r"[0-9a-f]{64}|[0-9a-z]{25}")


def shape(value) -> str:
    return IDS.sub("<id>", json.dumps(value, sort_keys=True))


def curated(lines: list[dict]) -> list[dict]:
    kept: dict[tuple, dict] = {}
    for line in lines:
        path = re.sub(r"^/v[\d.]+/", "/", line["path"])
        kept.setdefault((line["method"], shape(path), shape(sorted(line["query"])), shape(line["body"])), line)
    return list(kept.values())


def mode_of(instance: dict, requests: list[dict]) -> str:
    if instance["home_format"]:
        return "system"
    return "swarm" if any(request["path"].endswith("/services/create") for request in requests) else "docker"


def sections(lines: list[dict]) -> list[list[dict]]:
    """A recording in one piece per broker start: each begins with the instance it served (a test that changes
    the settings restarts the broker, which records its instance again)."""
    found: list[list[dict]] = []
    for line in lines:
        if "instance" in line:
            found.append([])
        found[-1].append(line)
    return found


def main(source: Path, target: Path) -> int:
    """Numbered after the fixtures already in `target`, so that a new recording adds files and replaces none."""
    counts: dict[str, int] = {}
    for existing in target.glob("*-*.jsonl"):
        mode, number = existing.stem.rsplit("-", 1)
        counts[mode] = max(counts.get(mode, 0), int(number))
    for recording in sorted(source.glob("*.jsonl")):
        lines = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
        for section in sections(lines):
            mode = mode_of(section[0]["instance"], section[1:])
            counts[mode] = counts.get(mode, 0) + 1
            kept = [section[0], *curated(section[1:])]
            out = target / f"{mode}-{counts[mode]:02d}.jsonl"
            out.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in kept))
            print(f"{recording.name}: {len(section) - 1} requests, {len(kept) - 1} kept in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
