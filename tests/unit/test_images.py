"""Image names and JupyterHub's own rule for which single-user versions work with a hub."""

import pytest

from appliance import __version__
from appliance.images import image_name, jupyterhub_mismatch, looks_like_docker_stacks, pinned_tag


def test_images_are_named_by_registry_kind_and_version():
    assert image_name("hub") == f"ghcr.io/jupyterhub-appliance/jupyterhub-appliance-hub:{__version__}"
    assert image_name("systemuser", "registry.example.org:5000/lab/", "1.2.3") == (
        "registry.example.org:5000/lab/jupyterhub-appliance-systemuser:1.2.3"
    )
    with pytest.raises(ValueError, match="one of hub, singleuser, systemuser, postgres"):
        image_name("proxy")


@pytest.mark.parametrize(
    ("image_version", "hub_version"),
    [("6.1.1", "6.1.1"), ("6.0.0", "6.1.1"), ("6.2.0b1", "6.1.1"), (None, "6.1.1")],
)
def test_the_same_major_version_or_an_unknown_one_is_let_through(image_version, hub_version):
    assert jupyterhub_mismatch("lab:1", image_version, hub_version) is None


def test_another_major_version_is_refused_naming_both_and_the_way_out():
    message = jupyterhub_mismatch("lab:old", "5.4.6", "6.1.1")
    assert message.startswith("Image lab:old has JupyterHub 5.4.6, but this hub runs JupyterHub 6.1.1.")
    assert "Use an image with JupyterHub 6.x" in message
    assert "jupyterhub==6.1.1" in message


def test_a_version_that_is_not_a_number_is_refused():
    assert "is not a version number" in jupyterhub_mismatch("lab:odd", "banana", "6.1.1")


def test_a_docker_stacks_image_of_another_major_is_pointed_to_its_pinned_tag():
    message = jupyterhub_mismatch("quay.io/jupyter/scipy-notebook:latest", "5.3.0", "6.1.1", docker_stacks=True)
    assert "It is a docker-stacks image: use its tag pinned to this hub's JupyterHub, " in message
    assert "quay.io/jupyter/scipy-notebook:hub-6.1.1 (or build FROM that one)" in message
    assert pinned_tag("localhost:5000/lab/scipy@sha256:" + "a" * 64, "6.1.1") == "localhost:5000/lab/scipy:hub-6.1.1"
    assert pinned_tag("registry:5000/scipy", "6.1.1") == "registry:5000/scipy:hub-6.1.1"


def test_docker_stacks_images_are_told_by_how_they_start():
    assert looks_like_docker_stacks({"Entrypoint": ["tini", "-g", "--", "start.sh"], "Cmd": ["start-notebook.py"]})
    assert looks_like_docker_stacks({"Entrypoint": None, "Cmd": ["/usr/local/bin/start-singleuser.sh"]})
    assert not looks_like_docker_stacks({"Entrypoint": ["tini", "-g", "--"], "Cmd": ["jupyterhub-singleuser"]})
    assert not looks_like_docker_stacks({})
