"""DATA_DIR problems are found before the hub starts, with the path, the reason and the fix."""

import os

import pytest

from appliance.data_dir import DataDirError, check_data_dir
from appliance.secret_store import resolve
from appliance.settings import load


def test_a_usable_data_dir_passes_and_keeps_no_probe(tmp_path):
    check_data_dir(str(tmp_path), tmp_path / "jupyterhub.sqlite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_secrets_owned_by_someone_else_are_refused(tmp_path):
    resolve(load({"DATA_DIR": str(tmp_path)}))
    os.chown(tmp_path / "secrets" / "crypt_key", 1000, 1000)
    with pytest.raises(DataDirError) as problem:
        check_data_dir(str(tmp_path), None)
    message = str(problem.value)
    assert f"{tmp_path}/secrets/crypt_key belongs to uid 1000, not to the hub (uid 0)" in message
    assert f"chown hub -R 0:0 {tmp_path}" in message
