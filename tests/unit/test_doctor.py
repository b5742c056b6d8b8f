"""The doctor's report: every check runs in order, one that breaks is reported and the rest still run, and
a check whose prerequisites failed is skipped with the reason."""

import pytest

from appliance import doctor
from appliance.concerns import Concern
from appliance.declarations import failed, passed
from appliance.doctor import diagnose, render

SECRETS = {"JPY_COOKIE_SECRET": "ab" * 32, "CONFIGPROXY_AUTH_TOKEN": "p" * 64, "JUPYTERHUB_CRYPT_KEY": "cd" * 32}


def broken(_settings):
    raise ConnectionResetError("the engine hung up")


@pytest.fixture
def checks(monkeypatch):
    made = (
        Concern("engine", broken),
        Concern("network", lambda _: passed("exists"), needs=("engine",)),
        Concern("secrets", prepare=lambda *_: None),
        Concern("data dir", lambda _: failed("full", "free some space")),
        Concern("auth", lambda settings: passed(f"mode {settings['AUTH_MODE']}")),
    )
    monkeypatch.setattr(doctor, "CONCERNS", made)
    monkeypatch.setattr(doctor, "concerns_for", lambda _settings: made)
    return made


def test_a_check_that_breaks_is_one_fail_and_the_others_still_run(checks):
    results = {result.name: result for result in diagnose(SECRETS)}
    assert list(results) == ["settings", "engine", "network", "data dir", "auth"]
    assert results["engine"].outcome.label == "FAIL"
    assert "ConnectionResetError: the engine hung up" in results["engine"].outcome.detail
    assert results["network"].outcome is None and results["network"].skipped_because == "needs engine"
    assert (results["data dir"].outcome.label, results["auth"].outcome.detail) == ("FAIL", "mode password")
    report = render(list(results.values()))
    assert "network   SKIP  needs engine" in report
    assert "fix: free some space" in report


def test_invalid_settings_skip_every_check_and_say_why(checks):
    results = diagnose({**SECRETS, "AUTH_MODE": "kerberos"})
    assert results[0].outcome.label == "FAIL" and "AUTH_MODE" in results[0].outcome.detail
    assert [result.name for result in results[1:]] == ["engine", "network", "data dir", "auth"], "no prepare-only one"
    assert [result.skipped_because for result in results[1:]] == ["the settings are invalid"] * 4
