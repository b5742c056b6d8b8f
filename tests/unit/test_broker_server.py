"""The broker's server (appliance.broker.server) between docker-py and an engine: what the policy allows reaches the
engine, streams included; what it refuses never does, and the caller reads why; the doctor tells the broker from
an engine. The engine is the spawners' fake one (tests/unit/fake_engine.py), a real HTTP server."""

import asyncio
import threading

import docker
import docker.errors
import jupyterhub
import pytest
from tornado.ioloop import IOLoop

from appliance import docker_host
from appliance.broker.policy import REFUSED_BY, Instance
from appliance.broker.server import Broker, listen
from appliance.concerns.engine import check_broker
from appliance.labels import LABEL_INSTANCE, LABEL_USER
from tests.unit.fake_engine import FakeEngine

IMAGE = "registry.example.org/lab:1"
COURSE = Instance("course", "sha256:" + "a" * 64, frozenset({IMAGE}), "course-net")
HARDENED = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": 64}
LABELS = {LABEL_INSTANCE: "course", LABEL_USER: "alice"}


@pytest.fixture
def engine():
    with FakeEngine({IMAGE: jupyterhub.__version__}) as fake:
        yield fake


@pytest.fixture
def broker_socket(engine, tmp_path):
    """The broker serving on a unix socket in its own thread and event loop, in front of the fake engine."""
    path = str(tmp_path / "broker.sock")
    started = threading.Event()
    loops = []

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        listen(Broker(lambda: COURSE, engine.url.replace("tcp://", "http://")), path)
        loops.append(IOLoop.current())
        started.set()
        IOLoop.current().start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    yield path
    loops[0].add_callback(loops[0].stop)
    thread.join(5)


@pytest.fixture
def client(broker_socket):
    through_broker = docker.DockerClient(base_url=f"unix://{broker_socket}", version="1.41", timeout=10)
    yield through_broker
    through_broker.close()


def test_an_allowed_container_reaches_the_engine_and_its_streams_come_back(client, engine):
    """The hub's JupyterHub version probe: create, start, wait, logs (a multiplexed stream) and remove."""
    assert docker_host.jupyterhub_version_in(client, IMAGE, LABELS) == jupyterhub.__version__
    [created] = engine.asked("POST", r"/containers/create")
    assert created.body["Labels"] == LABELS
    assert engine.asked("POST", r"/containers/\w+/wait") and engine.asked("GET", r"/containers/\w+/logs")
    assert engine.asked("DELETE", r"/containers/\w+") and not engine.containers


def test_a_refused_request_never_reaches_the_engine_and_says_why(client, engine):
    with pytest.raises(docker.errors.APIError) as refused:
        client.containers.create(IMAGE, labels=LABELS, privileged=True, **HARDENED)
    assert refused.value.status_code == 403
    assert f"{REFUSED_BY} Privileged is not allowed" in refused.value.explanation
    assert not engine.asked("POST", r"/containers/create")


def test_a_missing_object_is_a_404_the_engine_is_not_asked_for(client, engine):
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("jupyter-nobody")
    lookups = engine.asked("GET", r"/containers/jupyter-nobody/json")
    assert len(lookups) == 1, "the broker's own lookup; the request itself was not forwarded"


def test_the_doctor_tells_the_broker_from_an_engine(broker_socket, engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{broker_socket}")
    assert docker_host.behind_broker(docker_host.client())
    assert check_broker({"DOCKER_BROKER": "on"}).label == "PASS"
    monkeypatch.setenv("DOCKER_HOST", engine.url)
    assert not docker_host.behind_broker(docker_host.client())
    outcome = check_broker({"DOCKER_BROKER": "on"})
    assert outcome.label == "FAIL" and "root on the host" in outcome.detail and "DOCKER_BROKER=off" in outcome.fix
    assert check_broker({"DOCKER_BROKER": "off"}).label == "WARN"
