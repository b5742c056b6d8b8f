"""Spawn errors are JupyterHub's SpawnException: the user reads the message with a status that fits, not a 500."""

from jupyterhub.utils import format_exception
from tornado import web

from appliance.spawners.errors import UNAVAILABLE, SpawnError, SpawnRefused


def test_a_spawn_error_carries_its_message_status_and_reason_through_jupyterhub():
    error = SpawnError("Image lab:9 is not on this host", status=UNAVAILABLE, reason="image")
    assert isinstance(error, web.HTTPError), "JupyterHub's spawn page passes HTTPErrors through"
    assert (error.status_code, error.reason) == (503, "image")
    assert format_exception(error) == ("Image lab:9 is not on this host", None)


def test_a_refusal_is_a_client_error_with_its_own_status():
    refusal = SpawnRefused(403, "The profile large is for members of staff")
    assert (refusal.status_code, refusal.reason) == (403, "refused")
    assert format_exception(refusal)[0] == "The profile large is for members of staff"
