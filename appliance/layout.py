"""Fixed ports, names and paths inside the hub container and the user containers."""

from pathlib import Path

# The appliance's own page templates, found before JupyterHub's (home.html: the shares; authorization-area.html).
HUB_TEMPLATES = Path(__file__).parent / "templates"

PUBLIC_PORT_INSIDE = 8000
# Caddy's ports, unprivileged, so that it runs without root; compose/https.yml publishes them as 80 and 443.
HTTP_PORT_INSIDE = 8080
HTTPS_PORT_INSIDE = 8443
# The unprivileged accounts of the hub image that run the internet-facing processes.
PROXY_ACCOUNT = "proxy"
TLS_FRONT_ACCOUNT = "caddy"
PROXY_API_URL = "http://127.0.0.1:8001"
HUB_PORT_INSIDE = 8081
# The hub's backups service (users' restore page), on loopback: the proxy beside it routes /services/backups/ there.
BACKUP_SERVICE_PORT = 8082
# Where each user server listens, in its own container (dockerspawner's default port).
SERVER_PORT_INSIDE = 8888
HUB_SERVICE_NAME = "hub"
# The engine's socket, which only the Docker broker mounts, and the broker's, on a volume the hub mounts too.
ENGINE_SOCKET = "/var/run/docker.sock"
BROKER_SOCKET = "/run/appliance-broker/docker.sock"
BROKER_ADDRESS = f"unix://{BROKER_SOCKET}"
# The image user's home, which each server's volume holds (USER_VOLUME_HOLDS=home); JupyterLab opens in its work.
HOME_DIR = "/home/jovyan"
NOTEBOOK_DIR = f"{HOME_DIR}/work"
# With USER_VOLUME_HOLDS=work (installs of releases before 0.3), each volume holds ~/work only, and the home is a
# second volume named like it with this suffix; '.' never appears in dockerspawner's escaped user or server names.
HOME_VOLUME_SUFFIX = ".home"
# User servers' containers (services) are named PREFIX-user[--server] (dockerspawner's name template): the prefix
# holds the instance (CONTAINER_NAMES=instance), or is the one of releases before 0.3 (legacy), as their volumes.
LEGACY_CONTAINER_PREFIX = "jupyter"
LEGACY_USER_VOLUME = "jupyterhub-user-{username}"
# DATA_DIR/<file>: the naming the install was made with (CONTAINER_NAMES), written at its first start.
CONTAINER_NAMES_FILE = "container-names"
# DATA_DIR/<file>: what its users' volumes hold (USER_VOLUME_HOLDS), written at its first start.
USER_VOLUME_HOLDS_FILE = "user-volume-holds"


def container_prefix(instance: str, naming: str | None) -> str:
    return LEGACY_CONTAINER_PREFIX if naming == "legacy" else f"{LEGACY_CONTAINER_PREFIX}-{instance}"


# The hub's stored secrets: DATA_DIR/secrets/<file>, mode 0600 (appliance.secret_store).
SECRETS_FOLDER = "secrets"
ADMIN_PASSWORD_FILE = "admin_password"
BACKUP_PASSWORD_FILE = "backup_password"
# Where the hub writes its database dump for the users' backups (docker-compose.yml mounts a labelled volume
# there, which restic's helper reads); DATA_DIR/<file>: how the last backups of users' files went.
BACKUP_STAGING_DIR = "/backup-staging"
BACKUP_STATUS_FILE = "backups/users-backup-status.json"
# The last reading of users' homes in USER_STORAGE_DIR (used bytes and quotas), in DATA_DIR: the hub's metrics.
USER_STORAGE_USAGE_FILE = "user-storage-usage.json"


def stored_secret_path(data_dir: str, file_name: str) -> Path:
    return Path(data_dir) / SECRETS_FOLDER / file_name


# System mode: the host's passwd and group files as the hub sees them (compose/systemuser.yml mounts them).
HOST_PASSWD_IN_HUB = "/etc/appliance/host/passwd"
HOST_GROUP_IN_HUB = "/etc/appliance/host/group"
