"""The settings docs (docs/settings.md, the README's main settings), the profile fields and .env.example are
generated from the declarations and must not drift."""

import re
import subprocess
import sys
from pathlib import Path

from appliance import __version__
from appliance.docs import (
    PROFILES_PAGE,
    SETTING_TYPES_FILE,
    SETTINGS_PAGE,
    VERSIONED_FILES,
    render_env_example,
    render_main_settings,
    render_setting_types,
    render_table,
    stale_files,
    write,
)
from appliance.images import DEFAULT_REGISTRY
from appliance.profiles import SCHEMA_FILE, rendered_schema
from appliance.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_and_env_example_match_the_declarations():
    assert stale_files(ROOT) == []


def copy_generated_pages(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for name in ("README.md", SETTINGS_PAGE, PROFILES_PAGE):
        (tmp_path / name).write_text((ROOT / name).read_text())


def test_drift_is_detected(tmp_path):
    copy_generated_pages(tmp_path)
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text().replace("`AUTH_MODE`", "`MODE`"))
    (tmp_path / SETTINGS_PAGE).write_text((ROOT / SETTINGS_PAGE).read_text().replace("`SPAWNER_MODE`", "`MODE`"))
    (tmp_path / ".env.example").write_text(render_env_example() + "#EXTRA=1\n")
    (tmp_path / SCHEMA_FILE).write_text(rendered_schema().replace("mem_limit", "memory"))
    (tmp_path / SETTING_TYPES_FILE).parent.mkdir()
    (tmp_path / SETTING_TYPES_FILE).write_text(render_setting_types().replace("    MEM_LIMIT: str\n", ""))
    assert stale_files(tmp_path) == ["README.md", SETTINGS_PAGE, ".env.example", SCHEMA_FILE, SETTING_TYPES_FILE]
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "docs", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "appliance docs --write" in result.stderr


def test_the_typed_view_gives_each_setting_its_kinds_type_and_none_where_it_may_be_unset():
    rendered = render_setting_types()
    assert "    SPAWNER_MODE: str\n" in rendered, "a literal default: never unset"
    assert "    AUTH_MODE: str\n" in rendered, "a derived default that always gives a value"
    assert "    PUBLIC_URL: str | None\n" in rendered
    assert "    USER_EGRESS_ALLOW: tuple[EgressRule, ...] | None\n" in rendered
    assert "    PROFILES_FILE: ProfilesFile | None\n" in rendered
    assert "    CPU_LIMIT: float\n" in rendered and "    IDLE_TIMEOUT: int\n" in rendered


def test_every_setting_is_documented_in_both():
    table, example = render_table(), render_env_example()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in table
        assert f"#{setting.name}=" in example


def test_compose_files_name_the_published_images_with_the_package_version():
    expected = r"image: \$\{IMAGE_REGISTRY:-(\S+)\}/jupyterhub-appliance-(\w+):\$\{APPLIANCE_VERSION:-(\S+)\}"
    for compose_file, kinds in (
        ("docker-compose.yml", ["hub", "hub", "singleuser"]),
        ("compose/systemuser.yml", ["systemuser"]),
        ("compose/swarm.yml", ["hub", "hub"]),
        ("compose/postgres.yml", ["postgres"]),
    ):
        text = (ROOT / compose_file).read_text()
        assert len(re.findall(r"^\s*image:", text, re.MULTILINE)) == len(kinds)
        assert re.findall(expected, text) == [(DEFAULT_REGISTRY, kind, __version__) for kind in kinds]


def test_a_version_bump_is_caught_and_written_everywhere(tmp_path):
    for name in VERSIONED_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text().replace(__version__, "0.0.1"))
    copy_generated_pages(tmp_path)
    (tmp_path / ".env.example").write_text(render_env_example())
    (tmp_path / SCHEMA_FILE).write_text(rendered_schema())
    (tmp_path / SETTING_TYPES_FILE).parent.mkdir()
    (tmp_path / SETTING_TYPES_FILE).write_text(render_setting_types())
    assert stale_files(tmp_path) == list(VERSIONED_FILES)
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "docs", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert "Dockerfile differs from the version in appliance/__init__.py" in result.stderr
    write(tmp_path)
    assert stale_files(tmp_path) == []
    assert (tmp_path / "Dockerfile").read_text() == (ROOT / "Dockerfile").read_text()


def test_the_changelog_has_a_section_for_this_version_with_upgrading_notes():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    section = changelog.split(f"## {__version__} ", 1)[1].split("\n## ", 1)[0]
    assert "### Upgrading" in section


def test_the_env_example_and_the_reference_have_each_group_once():
    headings = [line for line in render_env_example().splitlines() if line.startswith("## ")]
    assert len(headings) == len(set(headings))
    groups = [line for line in render_table().splitlines() if line.startswith("## ")]
    assert groups == headings


def test_the_readme_shows_the_main_settings_as_declared():
    assert render_main_settings() in (ROOT / "README.md").read_text()
    assert "| `AUTH_MODE` |" in render_main_settings()
