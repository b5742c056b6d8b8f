"""`apply(settings, c)`: turn checked settings into JupyterHub's config, one concern per function.

Each function only sets values (never appends or mutates), so applying twice is harmless.
"""

import sys

from traitlets.config import Config

from appliance import image_pulls, profiles, reconcile, sharing
from appliance.auth import configure_auth
from appliance.database import connect_url
from appliance.declarations import Settings, SpawnerMode, present, value_of
from appliance.layout import (
    BACKUP_SERVICE_PORT,
    HUB_PORT_INSIDE,
    HUB_SERVICE_NAME,
    HUB_TEMPLATES,
    PROXY_API_URL,
    PUBLIC_PORT_INSIDE,
    container_prefix,
)
from appliance.login import LOGIN_MODES
from appliance.servers import SPAWNER_MODES
from appliance.storage import backup_service

# Image pulls happen inside start(); the server's own answer has its deadline, SERVER_START_TIMEOUT.
START_TIMEOUT_SECONDS = 900


def apply(settings: Settings, c: Config) -> None:
    configure_hub(settings, c)
    configure_proxy(settings, c)
    configure_auth(settings, c)
    configure_spawner(settings, c)
    configure_network(settings, c)
    configure_limits(settings, c)
    configure_culling(settings, c)
    configure_server_environment(settings, c)
    configure_services(settings, c)
    configure_sharing(settings, c)
    # The spawner mode's own: its spawner class, where servers' files live, its hardening.
    spawner_mode(settings).configure(settings, c)


def spawner_mode(settings: Settings) -> SpawnerMode:
    return SPAWNER_MODES[settings["SPAWNER_MODE"]]


def configure_hub(settings: Settings, c: Config) -> None:
    c.JupyterHub.log_level = settings["LOG_LEVEL"]
    c.JupyterHub.db_url = connect_url(settings)
    # Resolved by `appliance run` (explicit, stored or generated) before the hub reads its config.
    c.JupyterHub.cookie_secret = bytes.fromhex(present(settings["JPY_COOKIE_SECRET"]))
    c.CryptKeeper.keys = [bytes.fromhex(present(settings["JUPYTERHUB_CRYPT_KEY"]))]
    c.JupyterHub.pid_file = ""
    # Show the spawn page with its progress after 1 s instead of 10 s; errors within that second
    # (a refused image, say) still come back in the response itself.
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 1}
    if settings["PUBLIC_URL"]:
        c.JupyterHub.public_url = settings["PUBLIC_URL"]
    # The login mode may put its own first (appliance.login.native).
    c.JupyterHub.template_paths = [str(HUB_TEMPLATES)]


def configure_proxy(settings: Settings, c: Config) -> None:
    """The proxy runs under supervisord, so user routes outlive hub restarts; the hub restores them
    when the proxy itself restarts."""
    c.JupyterHub.bind_url = f"http://:{PUBLIC_PORT_INSIDE}"
    c.JupyterHub.proxy_class = "appliance.proxy.SupervisedProxy"
    # "Start" means "watch": SupervisedProxy.start() only begins checking that routes are in place.
    c.ConfigurableHTTPProxy.should_start = True
    c.ConfigurableHTTPProxy.api_url = PROXY_API_URL
    c.ConfigurableHTTPProxy.auth_token = settings["CONFIGPROXY_AUTH_TOKEN"]
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.cleanup_proxy = False


def configure_spawner(settings: Settings, c: Config) -> None:
    c.ApplianceDockerSpawner.appliance_instance = settings["APPLIANCE_INSTANCE"]
    c.DockerSpawner.prefix = container_prefix(settings["APPLIANCE_INSTANCE"], settings["CONTAINER_NAMES"])
    c.ApplianceDockerSpawner.server_start_timeout = settings["SERVER_START_TIMEOUT"]
    c.DockerSpawner.image = settings["SINGLEUSER_IMAGE"]
    # Checked against the owner's groups at each start (appliance.spawners.profile_choice), whoever asks.
    c.ApplianceDockerSpawner.profiles = list(profiles.in_use(settings))
    c.DockerSpawner.remove = True
    c.DockerSpawner.env_keep = []
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = START_TIMEOUT_SECONDS
    c.JupyterHub.allow_named_servers = settings["NAMED_SERVERS"] > 0
    c.JupyterHub.named_server_limit_per_user = settings["NAMED_SERVERS"]


def configure_network(settings: Settings, c: Config) -> None:
    """User servers join the shared network, reach the hub by its compose (or stack) service name, and are
    firewalled there (appliance.network_rules)."""
    c.DockerSpawner.network_name = settings["DOCKER_NETWORK"]
    c.DockerSpawner.use_internal_ip = True
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{HUB_PORT_INSIDE}"
    c.JupyterHub.hub_connect_url = f"http://{HUB_SERVICE_NAME}:{HUB_PORT_INSIDE}"
    c.ApplianceDockerSpawner.network_isolation = settings["USER_NETWORK_ISOLATION"] == "on"
    c.ApplianceDockerSpawner.user_egress = settings["USER_EGRESS"]
    c.ApplianceDockerSpawner.user_egress_allow = [str(rule) for rule in settings["USER_EGRESS_ALLOW"] or ()]


def configure_limits(settings: Settings, c: Config) -> None:
    """Bounded resources of every user container; the spawner mode adds its hardening (no privileges to gain, no
    capabilities, a pids limit)."""
    c.DockerSpawner.mem_limit = settings["MEM_LIMIT"]
    c.DockerSpawner.cpu_limit = settings["CPU_LIMIT"]


def configure_culling(settings: Settings, c: Config) -> None:
    """Servers idle for IDLE_TIMEOUT are stopped by the culler service (see configure_services); activity
    must reach the hub well within the timeout, or busy servers would look idle."""
    if not settings["IDLE_TIMEOUT"]:
        return
    c.JupyterHub.last_activity_interval = activity_interval_for(settings["IDLE_TIMEOUT"])


def configure_server_environment(settings: Settings, c: Config) -> None:
    """What every user server finds in its environment: how often it reports activity (with IDLE_TIMEOUT), the
    appliance's sharing settings and the login mode's own (lti13: which sites may frame JupyterLab), which the
    appliance's user image reads (singleuser/jupyter_server_config.py).
    Environment, not arguments: an image of one's own, whose command takes none, starts all the same."""
    activity = {}
    if settings["IDLE_TIMEOUT"]:
        activity = {"JUPYTERHUB_ACTIVITY_INTERVAL": str(activity_interval_for(settings["IDLE_TIMEOUT"]))}
    of_login_mode = LOGIN_MODES[settings["AUTH_MODE"]].server_environment
    login = of_login_mode(settings) if of_login_mode else {}
    c.Spawner.environment = {**activity, **sharing.server_environment(settings), **login}


def configure_services(settings: Settings, c: Config) -> None:
    """Hub-managed services, each with the narrowest role it needs."""
    wanted = [
        reconcile_service(settings),
        idle_culler_service(settings),
        metrics_service(settings),
        pull_ahead_service(settings),
        backups_service(settings),
    ]
    services_and_roles = [pair for pair in wanted if pair]
    c.JupyterHub.services = [service for service, _ in services_and_roles]
    c.JupyterHub.load_roles = [
        *(role for _, role in services_and_roles),
        *users_role(settings),
        *sharing.assistant_roles(settings),
    ]


def users_role(settings: Settings) -> list[dict]:
    """JupyterHub's default `user` role (self), with the sharing of one's own servers (SHARING) and, with backups,
    the use of the restore page."""
    extra = sharing.sharing_scopes(settings)
    if settings["BACKUP_REPOSITORY"] is not None:
        extra.append(f"access:services!service={backup_service.SERVICE_NAME}")
    return [{"name": "user", "scopes": ["self", *extra]}] if extra else []


def configure_sharing(settings: Settings, c: Config) -> None:
    """The home page lists shares. Who may share with whom is checked in the hub's handlers
    (appliance.share_checks, installed by the hub's config file); the user servers' side is in their environment
    (configure_server_environment)."""
    c.JupyterHub.template_vars = {"sharing_mode": settings["SHARING"], "shares": sharing.shares_on_home_page}


ServiceAndRole = tuple[dict, dict] | None


def reconcile_service(settings: Settings) -> ServiceAndRole:
    """Checks Docker against the hub at start and then periodically (see appliance.reconcile); in swarm mode it
    also stops the servers whose tasks were lost with their node."""
    scopes = ["list:users", "read:servers"]
    if spawner_mode(settings).many_nodes:
        scopes.append("delete:servers")
    return (
        {"name": "reconcile", "command": reconcile.command(settings), "environment": docker_endpoint(settings)},
        {"name": "reconcile", "scopes": scopes, "services": ["reconcile"]},
    )


def idle_culler_service(settings: Settings) -> ServiceAndRole:
    timeout = settings["IDLE_TIMEOUT"]
    if not timeout:
        return None
    command = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={timeout}",
        f"--cull-every={activity_interval_for(timeout)}",
    ]
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    return (
        {"name": "idle-culler", "command": command},
        {"name": "idle-culler", "scopes": scopes, "services": ["idle-culler"]},
    )


def pull_ahead_service(settings: Settings) -> ServiceAndRole:
    """Pulls the images users can get and this host lacks, at hub start (appliance.image_pulls), in swarm mode
    on every node SWARM_PLACEMENT admits too; no API access."""
    if not settings["PULL_AHEAD"]:
        return None
    images = profiles.images_in_use(settings)
    swarm = spawner_mode(settings).many_nodes
    command = image_pulls.command(
        images,
        swarm_instance=settings["APPLIANCE_INSTANCE"] if swarm else "",
        swarm_constraints=tuple(settings["SWARM_PLACEMENT"] or ()) if swarm else (),
    )
    return (
        {"name": "pull-ahead", "command": command, "environment": docker_endpoint(settings)},
        {"name": "pull-ahead", "scopes": [], "services": ["pull-ahead"]},
    )


def backups_service(settings: Settings) -> ServiceAndRole:
    """Backs users' files up on BACKUP_SCHEDULE and serves their restore page (appliance.storage.backup_service),
    behind the hub's login; no API access."""
    if settings["BACKUP_REPOSITORY"] is None:
        return None
    name = backup_service.SERVICE_NAME
    return (
        {
            "name": name,
            "url": f"http://127.0.0.1:{BACKUP_SERVICE_PORT}",
            "command": [sys.executable, "-m", "appliance", "backups-service"],
            "environment": {**backup_service.service_environment(settings), **docker_endpoint(settings)},
            "oauth_no_confirm": True,
        },
        {"name": name, "scopes": [], "services": [name]},
    )


def docker_endpoint(settings: Settings) -> dict[str, str]:
    """The hub's Docker endpoint, for the services that call Docker (JupyterHub passes them no other variable)."""
    names = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
    return {name: str(value_of(settings, name)) for name in names if value_of(settings, name) is not None}


def metrics_service(settings: Settings) -> ServiceAndRole:
    """Prometheus scrapes /hub/metrics with METRICS_TOKEN."""
    if not settings["METRICS_TOKEN"]:
        return None
    return (
        {"name": "metrics", "api_token": settings["METRICS_TOKEN"]},
        {"name": "metrics", "scopes": ["read:metrics"], "services": ["metrics"]},
    )


def activity_interval_for(timeout: int) -> int:
    """How often activity is reported and checked: a quarter of the timeout, within 5 s and 5 min."""
    return min(300, max(5, timeout // 4))
