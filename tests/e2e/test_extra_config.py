"""The escape hatch: *.py files in jupyterhub_config.d/ load after the appliance's own config."""

import pytest
import requests

from harness.compose import ROOT, RUN_ID
from harness.credentials import ADMIN_PASSWORD

MARKER = f"announcement from an admin's own config file {RUN_ID}"


@pytest.fixture(scope="module")
def stack(stack_factory):
    extra = ROOT / "jupyterhub_config.d" / f"e2e-{RUN_ID}.py"
    extra.write_text(f"c.JupyterHub.template_vars = {{'announcement': {MARKER!r}}}\n")
    try:
        yield stack_factory({"ADMIN_PASSWORD": ADMIN_PASSWORD})
    finally:
        extra.unlink()


def test_a_config_file_dropped_into_the_folder_takes_effect(stack):
    page = requests.get(f"{stack.url}/hub/login", timeout=10)
    assert MARKER in page.text
    assert stack.client_for().login("admin", ADMIN_PASSWORD).whoami() == "admin"
