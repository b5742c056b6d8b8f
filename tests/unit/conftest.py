"""Unit tests never reach a Docker engine: CI runs them before it starts one, so one that did would pass only here."""

import pytest


@pytest.fixture(autouse=True)
def no_docker_engine(monkeypatch, tmp_path_factory):
    socket = tmp_path_factory.getbasetemp() / "no-docker-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
