"""`apply(settings, c)`: turn checked settings into JupyterHub's config, one concern per function.

Each function only sets values (never appends or mutates), so applying twice is harmless.
"""

from traitlets.config import Config

from appliance.auth import configure_auth
from appliance.settings import Settings

HUB_PORT_INSIDE = 8081
PROXY_API_URL = "http://127.0.0.1:8001"
PUBLIC_PORT_INSIDE = 8000
HUB_SERVICE_NAME = "hub"
NOTEBOOK_DIR = "/home/jovyan/work"


def apply(settings: Settings, c: Config) -> None:
    configure_hub(settings, c)
    configure_proxy(settings, c)
    configure_auth(settings, c)
    configure_spawner(settings, c)
    configure_storage(settings, c)
    configure_network(settings, c)
    configure_limits(settings, c)


def configure_hub(settings: Settings, c: Config) -> None:
    c.JupyterHub.log_level = settings["LOG_LEVEL"]
    c.JupyterHub.db_url = settings["DATABASE_URL"]
    c.JupyterHub.cookie_secret = bytes.fromhex(settings["JPY_COOKIE_SECRET"])
    c.CryptKeeper.keys = [bytes.fromhex(settings["JUPYTERHUB_CRYPT_KEY"])]
    c.JupyterHub.pid_file = ""
    if settings["PUBLIC_URL"]:
        c.JupyterHub.public_url = settings["PUBLIC_URL"]


def configure_proxy(settings: Settings, c: Config) -> None:
    """The proxy runs under supervisord, so user routes outlive hub restarts."""
    c.JupyterHub.bind_url = f"http://:{PUBLIC_PORT_INSIDE}"
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = PROXY_API_URL
    c.ConfigurableHTTPProxy.auth_token = settings["CONFIGPROXY_AUTH_TOKEN"]
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.cleanup_proxy = False


def configure_spawner(settings: Settings, c: Config) -> None:
    c.JupyterHub.spawner_class = "appliance.spawners.ApplianceDockerSpawner"
    c.ApplianceDockerSpawner.appliance_instance = settings["APPLIANCE_INSTANCE"]
    c.DockerSpawner.image = settings["SINGLEUSER_IMAGE"]
    c.DockerSpawner.allowed_images = list(settings["ALLOWED_IMAGES"] or ())
    c.DockerSpawner.remove = True
    c.DockerSpawner.env_keep = []
    c.Spawner.default_url = "/lab"


def configure_storage(settings: Settings, c: Config) -> None:
    """Each user's work lives in a named volume, which outlives their containers."""
    c.DockerSpawner.notebook_dir = NOTEBOOK_DIR
    c.DockerSpawner.volumes = {settings["USER_VOLUME"]: NOTEBOOK_DIR}


def configure_network(settings: Settings, c: Config) -> None:
    """User servers join the shared network and reach the hub by its compose service name."""
    c.DockerSpawner.network_name = settings["DOCKER_NETWORK"]
    c.DockerSpawner.use_internal_ip = True
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{HUB_PORT_INSIDE}"
    c.JupyterHub.hub_connect_url = f"http://{HUB_SERVICE_NAME}:{HUB_PORT_INSIDE}"


def configure_limits(settings: Settings, c: Config) -> None:
    if settings["MEM_LIMIT"]:
        c.DockerSpawner.mem_limit = settings["MEM_LIMIT"]
    if settings["CPU_LIMIT"]:
        c.DockerSpawner.cpu_limit = settings["CPU_LIMIT"]
