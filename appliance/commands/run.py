"""`appliance run`: check the settings, prepare each concern the hub needs (appliance.concerns; each fails closed,
naming its fix), then exec supervisord."""

import os
import sys

from appliance import docker_host
from appliance.broker.unix_http import wait_until_answering
from appliance.commands.common import EXIT_BAD_CONFIG, say
from appliance.concerns import CONCERNS
from appliance.data_dir import DataDirError
from appliance.database import DatabaseError
from appliance.declarations import Settings, StartRefused
from appliance.layout import BROKER_ADDRESS, BROKER_SOCKET
from appliance.misspelt import misspelt_settings
from appliance.network_rules import NetworkRulesError, cannot_isolate_message
from appliance.secret_store import StoredSecretError
from appliance.settings import SettingsError, load
from appliance.tls import TlsFrontError

SUPERVISORD_CONF = "/etc/jupyterhub/supervisord.conf"
BROKER_WAIT_SECONDS = 60
HELP = "check the settings, resolve the secrets, then exec supervisord"


def run(_args) -> int:
    warn_about_misspelt_settings()
    settings: Settings | None = None
    try:
        settings = load(os.environ)
        wait_for_the_broker()
        prepared = prepare(settings)
    except (SettingsError, StoredSecretError, DataDirError, DatabaseError, StartRefused, TlsFrontError) as error:
        exit_without_restart_loop(str(error))
    except NetworkRulesError as error:
        exit_without_restart_loop(cannot_isolate_message(str(error)))
    except OSError as error:
        where = settings["DATA_DIR"] if settings else os.environ.get("DATA_DIR")
        exit_without_restart_loop(f"DATA_DIR={where!r} cannot be used: {error}")
    sys.stdout.flush()
    os.execvpe("supervisord", ["supervisord", "-c", SUPERVISORD_CONF], {**os.environ, **prepared})


def wait_for_the_broker() -> None:
    """Docker is the broker's socket (compose starts it first; swarm may start it after the hub): wait for it. A
    broker that never answers is named by the Docker checks that follow."""
    if docker_host.address() == BROKER_ADDRESS:
        wait_until_answering(BROKER_SOCKET, BROKER_WAIT_SECONDS, say)


def prepare(settings: Settings) -> dict[str, str]:
    """Each concern prepared in order; what they give the hub's processes (the secrets, say), gathered."""
    environment: dict[str, str] = {}
    for concern in CONCERNS:
        if concern.prepare is not None:
            environment.update(concern.prepare(settings, say) or {})
    return environment


def exit_without_restart_loop(message: str) -> None:
    """Print why the hub cannot start and exit; Docker is told not to restart it into the same error."""
    print(message, file=sys.stderr)
    if docker_host.stop_restarting_self():
        print(
            "This container will not restart by itself: fix the cause, then `docker compose up -d --force-recreate hub`"
            " (which also restores its restart policy).",
            file=sys.stderr,
        )
    sys.exit(EXIT_BAD_CONFIG)


def warn_about_misspelt_settings() -> None:
    for warning in misspelt_settings(os.environ):
        say(f"Warning: {warning}")
