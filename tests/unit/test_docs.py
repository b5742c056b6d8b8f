"""The README table and .env.example are generated from the declarations and must not drift."""

import re
import subprocess
import sys
from pathlib import Path

from appliance import __version__
from appliance.docs import render_env_example, render_table, stale_files
from appliance.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_and_env_example_match_the_declarations():
    assert stale_files(ROOT) == []


def test_drift_is_detected(tmp_path):
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text().replace("`SPAWNER_MODE`", "`MODE`"))
    (tmp_path / ".env.example").write_text(render_env_example() + "#EXTRA=1\n")
    assert stale_files(tmp_path) == ["README.md", ".env.example"]
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "docs", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "appliance docs --write" in result.stderr


def test_every_setting_is_documented_in_both():
    table, example = render_table(), render_env_example()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in table
        assert f"#{setting.name}=" in example


def test_compose_images_carry_the_appliance_version():
    for compose_file, images in (("docker-compose.yml", 2), ("compose/systemuser.yml", 1)):
        tags = re.findall(r"image: jupyterhub-appliance/\w+:(\S+)", (ROOT / compose_file).read_text())
        assert tags == [__version__] * images
