"""`appliance run`: check the settings, prepare what the hub needs (each step fails closed, naming its fix), then
exec supervisord."""

import os
import sys

import docker.errors

from appliance import docker_host
from appliance.commands.common import EXIT_BAD_CONFIG, say
from appliance.data_dir import DataDirError, check_data_dir, keep_private
from appliance.database import DatabaseError, connect_url, is_postgres, sqlite_file, upgrade_sqlite_if_needed
from appliance.declarations import Settings, StartRefused
from appliance.login import LOGIN_MODES
from appliance.misspelt import misspelt_settings
from appliance.network_rules import (
    ISOLATION_OFF_WARNING,
    NetworkRulesError,
    cannot_isolate_message,
    check_on_this_host,
)
from appliance.secret_store import STORED_BY_SETTING, StoredSecretError, resolve, secret_path
from appliance.servers import SPAWNER_MODES
from appliance.settings import (
    ADMIN_PASSWORD_MODES,
    SettingsError,
    egress_allow_warning,
    load,
    plain_http_warning,
)
from appliance.tls import TlsFrontError, https_enabled, prepare_tls_front

SUPERVISORD_CONF = "/etc/jupyterhub/supervisord.conf"
HELP = "check the settings, resolve the secrets, then exec supervisord"


def run(_args) -> int:
    warn_about_misspelt_settings()
    try:
        settings = load(os.environ)
        start_login_mode(settings)
        check_data_dir(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
        resolved = resolve(settings)
        prepare_database(settings)
        keep_private(settings["DATA_DIR"], sqlite_file(settings["DATABASE_URL"]))
        check_network_isolation(settings)
        join_networks_of_running_servers(settings)
        if https_enabled(settings):
            prepare_tls_front(settings)
    except (SettingsError, StoredSecretError, DataDirError, DatabaseError, StartRefused) as error:
        exit_without_restart_loop(str(error))
    except NetworkRulesError as error:
        exit_without_restart_loop(cannot_isolate_message(str(error)))
    except TlsFrontError as error:
        exit_without_restart_loop(str(error))
    except OSError as error:
        exit_without_restart_loop(f"DATA_DIR={settings['DATA_DIR']!r} cannot be used: {error}")
    announce_admin_login(settings, "ADMIN_PASSWORD" in resolved.generated, resolved.values.get("ADMIN_PASSWORD"))
    for warning in (plain_http_warning(settings), egress_allow_warning(settings)):
        if warning:
            say(warning)
    # supervisord starts the TLS front only when HTTPS is on.
    environment = {**os.environ, **resolved.values, "APPLIANCE_TLS_FRONT": str(https_enabled(settings)).lower()}
    sys.stdout.flush()
    os.execvpe("supervisord", ["supervisord", "-c", SUPERVISORD_CONF], environment)


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


def prepare_database(settings: Settings) -> None:
    """Wait for PostgreSQL (bounded), then back up and upgrade the database when it needs it."""
    url = connect_url(settings)
    if not is_postgres(url):
        upgrade_sqlite_if_needed(settings["DATA_DIR"], url, report=say)
        return
    from appliance import postgres  # psycopg, only where PostgreSQL is used

    postgres.wait_for(url, settings["DATABASE_WAIT_SECONDS"], report=say)
    postgres.upgrade_if_needed(settings["DATA_DIR"], url, report=say)


def start_login_mode(settings: Settings) -> None:
    """The login mode's own start step (oidc: wait for the issuer), before the hub starts."""
    LOGIN_MODES[settings["AUTH_MODE"]].start(settings, say)


def check_network_isolation(settings: Settings) -> None:
    """Fail closed: with isolation on, the hub starts only where the rules can be applied; off, it says so."""
    if settings["USER_NETWORK_ISOLATION"] == "off":
        say(ISOLATION_OFF_WARNING)
        return
    check_on_this_host(settings["APPLIANCE_INSTANCE"])
    say("User servers get network rules (USER_NETWORK_ISOLATION=on): checked that this host can apply them.")


def join_networks_of_running_servers(settings: Settings) -> None:
    """Servers still on a network from before DOCKER_NETWORK changed keep working: the hub joins it too."""
    if SPAWNER_MODES[settings["SPAWNER_MODE"]].many_nodes:
        return
    try:
        engine = docker_host.client()
        joined = docker_host.join_networks_of_running_servers(
            engine, settings["APPLIANCE_INSTANCE"], settings["DOCKER_NETWORK"]
        )
    except docker.errors.DockerException as error:
        say(f"Could not check which networks running user servers are on: {error}")
        return
    for network in joined:
        say(
            f"User servers started before DOCKER_NETWORK={settings['DOCKER_NETWORK']} run on the network {network}; "
            f"the hub joined it too, so they keep working. New servers start on {settings['DOCKER_NETWORK']}; remove "
            f"{network} (`docker network rm {network}`) once those servers have stopped."
        )


def announce_admin_login(settings: Settings, generated: bool, password: str | None) -> None:
    """Tell the admin how to log in: the password itself only on the start that generated it."""
    if settings["AUTH_MODE"] not in ADMIN_PASSWORD_MODES or settings["ADMIN_PASSWORD"]:
        return
    url = (settings["PUBLIC_URL"] or f"http://localhost:{settings['HUB_PORT']}").rstrip("/")
    stored = secret_path(settings["DATA_DIR"], STORED_BY_SETTING["ADMIN_PASSWORD"])
    admin = settings["ADMIN_USERS"][0]
    if generated:
        banner = [
            "First start: generated a password for the admin users.",
            f"  Log in at {url}/hub/login",
            f"  user name: {admin}",
            f"  password:  {password}",
            f"It is stored in {stored}; this is the only time it is logged.",
        ]
    else:
        banner = [f"Admin login: user {admin}, password stored in {stored}"]
        if settings["AUTH_MODE"] == "native":
            banner[0] += " (the first one: a password changed at /hub/change-password replaces it)"
    banner.append(f"Show it again with: docker compose exec hub cat {stored}")
    rule = "=" * 72
    print("\n".join([rule, *banner, rule]), flush=True)
