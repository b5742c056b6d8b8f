"""Secret resolution: explicit, else stored, else generated and stored 0600."""

import stat

import pytest

from appliance.secret_store import StoredSecretError, resolve
from appliance.settings import load


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_generates_and_stores_every_secret_privately(tmp_path):
    resolved = resolve(load({"DATA_DIR": str(tmp_path)}))
    assert set(resolved.generated) == {"JPY_COOKIE_SECRET", "CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY",
                                       "ADMIN_PASSWORD"}  # fmt: skip
    folder = tmp_path / "secrets"
    assert mode(folder) == 0o700
    for path in folder.iterdir():
        assert mode(path) == 0o600
    assert len(resolved.values["ADMIN_PASSWORD"]) >= 32
    assert (folder / "cookie_secret").read_text().strip() == resolved.values["JPY_COOKIE_SECRET"]


def test_second_start_reuses_the_stored_secrets(tmp_path):
    settings = load({"DATA_DIR": str(tmp_path)})
    first = resolve(settings)
    second = resolve(settings)
    assert second.values == first.values
    assert second.generated == ()


def test_explicit_value_wins_and_is_not_stored(tmp_path):
    token = "t" * 40
    resolved = resolve(load({"DATA_DIR": str(tmp_path), "CONFIGPROXY_AUTH_TOKEN": token}))
    assert resolved.values["CONFIGPROXY_AUTH_TOKEN"] == token
    assert not (tmp_path / "secrets" / "proxy_auth_token").exists()


def test_admin_password_is_only_made_in_password_mode(tmp_path):
    settings = load(
        {
            "DATA_DIR": str(tmp_path),
            "GITHUB_CLIENT_ID": "id",
            "GITHUB_CLIENT_SECRET": "secret",
            "PUBLIC_URL": "https://hub.example.org",
            "ALLOWED_USERS": "octocat",
        }
    )
    assert "ADMIN_PASSWORD" not in resolve(settings).values
    assert not (tmp_path / "secrets" / "admin_password").exists()


def test_loose_file_mode_is_tightened(tmp_path):
    settings = load({"DATA_DIR": str(tmp_path)})
    resolve(settings)
    path = tmp_path / "secrets" / "crypt_key"
    path.chmod(0o644)
    resolve(settings)
    assert mode(path) == 0o600


def test_corrupt_stored_secret_is_reported_and_left_alone(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "cookie_secret").write_text("not hex\n")
    with pytest.raises(StoredSecretError, match=r"cookie_secret.*JPY_COOKIE_SECRET"):
        resolve(load({"DATA_DIR": str(tmp_path)}))
    assert (folder / "cookie_secret").read_text() == "not hex\n"
