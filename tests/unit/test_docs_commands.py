"""Every `docker compose …`, `appliance …` and `make …` command the docs show exists with those arguments."""

import shutil
from pathlib import Path

import pytest

from tests.unit.docs_commands import command_lines, documentation, problems

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_in_the_docs_exists():
    shown = [line for page in documentation(ROOT) for line in command_lines(page.read_text())]
    assert len(shown) > 100, "the docs show their commands in code, where this test finds them"
    assert problems(ROOT, documentation(ROOT)) == []


def copy_of_the_docs(tmp_path: Path) -> Path:
    for name in ("README.md", "Makefile", "docker-compose.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "compose", tmp_path / "compose")
    return tmp_path


@pytest.mark.parametrize(
    ("page", "old", "new", "reported"),
    [
        ("README.md", "appliance stop-servers", "appliance stop-all", "invalid choice: 'stop-all'"),
        ("docs/operations.md", "restore -", "restore --from -", "unrecognized arguments: --from"),
        ("docs/development.md", "| `make docs-site` |", "| `make site` |", "no make target site"),
        ("docs/postgresql.md", "compose/postgres.yml run", "compose/postgresql.yml run", "no compose file"),
        ("README.md", "docker compose logs hub", "docker compose logs hubs", "no service hubs"),
        ("docs/operations.md", "exec hub appliance doctor", "exec hub appliance heal", "invalid choice: 'heal'"),
    ],
)
def test_a_renamed_command_or_option_is_caught(tmp_path, page, old, new, reported):
    root = copy_of_the_docs(tmp_path)
    text = (root / page).read_text()
    assert old in text, f"{page} no longer shows {old!r}: pick another example"
    (root / page).write_text(text.replace(old, new, 1))
    found = problems(root, documentation(root))
    assert len(found) == 1 and reported in found[0] and found[0].startswith(page), found
